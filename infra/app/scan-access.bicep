// What the scanner may do in one subscription: read every Key Vault, its certificates' metadata (never a
// private key or a secret value) and the services that use them. Deployed by main.bicep for the home subscription and for every
// id in additionalScanSubscriptionIds, or on its own for any further subscription:
//   az deployment sub create --subscription OTHER --location LOCATION \
//     --template-file infra/app/scan-access.bicep --parameters principalId=AZURE_FUNCTION_PRINCIPAL_ID
targetScope = 'subscription'

@description('Object (principal) id of the AutoRenew Guard identity (output AZURE_FUNCTION_PRINCIPAL_ID).')
param principalId string

@description('Also grant Key Vault Certificates Officer, so AUTO_REMEDIATE can turn on AutoRenew in this subscription.')
param autoRemediate bool = false

var readerRoleId = 'acdd72a7-3385-48ef-bd42-f606fba81ae7' // Reader
var keyVaultReaderRoleId = '21090545-7ca7-4776-b22c-e363652d74d2' // Key Vault Reader
var keyVaultCertificatesOfficerRoleId = 'a4417e6f-fecd-4de8-b567-7b0420556985' // Key Vault Certificates Officer

// Resource Manager reads (Reader is "*/read"): subscriptions, vaults, and the services that serve certificates
// (rule CertificateBinding): Application Gateways, Front Door / CDN profiles and their secrets (which hold a
// Key Vault reference, not a secret value), API Management services and App Service certificates.
resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, readerRoleId)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRoleId)
  }
}

// Key Vault data reads (its data action Microsoft.KeyVault/vaults/*/read covers certificates/read): lists
// certificates and reads their properties, issuance policies, versions and pending (renewal) operations, in
// vaults that use Azure RBAC.
// Vaults that use access policies need a policy instead (docs/DEPLOY.md).
resource keyVaultReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, keyVaultReaderRoleId)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultReaderRoleId)
  }
}

// Only with autoRemediate: updates certificate issuance policies (adds the AutoRenew lifetime action); its
// data action Microsoft.KeyVault/vaults/certificates/* includes certificates/update.
resource certificatesOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (autoRemediate) {
  name: guid(subscription().id, principalId, keyVaultCertificatesOfficerRoleId)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCertificatesOfficerRoleId)
  }
}

output subscriptionId string = subscription().subscriptionId
