// What the scanner may do in one subscription: read every Key Vault, its certificates' metadata (never a
// private key or a secret value) and the services that use them. Deployed by main.bicep for the home subscription and for every
// id in additionalScanSubscriptionIds, or on its own for any further subscription:
//   az deployment sub create --subscription OTHER --location LOCATION \
//     --template-file infra/app/scan-access.bicep --parameters principalId=AZURE_FUNCTION_PRINCIPAL_ID
//
// By default the identity gets two custom roles holding exactly the actions the app uses (docs/DEPLOY.md,
// "Least privilege"); useBuiltInRoles=true grants Reader + Key Vault Reader (+ Key Vault Certificates
// Officer with autoRemediate) instead, for tenants that do not allow custom roles.
targetScope = 'subscription'

@description('Object (principal) id of the AutoRenew Guard identity (output AZURE_FUNCTION_PRINCIPAL_ID).')
param principalId string

@description('Also let AUTO_REMEDIATE turn on AutoRenew in this subscription (certificate read and policy update only).')
param autoRemediate bool = false

@description('Grant the broader built-in roles (Reader, Key Vault Reader, Key Vault Certificates Officer) instead of the custom least-privilege roles.')
param useBuiltInRoles bool = false

var readerRoleId = 'acdd72a7-3385-48ef-bd42-f606fba81ae7' // Reader
var keyVaultReaderRoleId = '21090545-7ca7-4776-b22c-e363652d74d2' // Key Vault Reader
var keyVaultCertificatesOfficerRoleId = 'a4417e6f-fecd-4de8-b567-7b0420556985' // Key Vault Certificates Officer

// Custom role definitions: one per subscription and principal (a role name is unique in the tenant).
var scanRoleName = guid(subscription().id, principalId, 'AutoRenew Guard scan')
var remediateRoleName = guid(subscription().id, principalId, 'AutoRenew Guard remediate')

// Every action name below is taken from Microsoft's published lists (MicrosoftDocs/azure-docs,
// articles/role-based-access-control/permissions/{management-and-governance,networking,web-and-mobile,
// compute,security}.md) and is one the built-in roles it replaces hold: Reader's "*/read" covers each
// Resource Manager read, Key Vault Reader's "Microsoft.KeyVault/vaults/*/read" and
// "secrets/readMetadata/action" the data reads, Key Vault Certificates Officer's "certificates/*" the update.
var scanActions = [
  'Microsoft.Resources/subscriptions/read' // list the subscriptions (GET /subscriptions)
  'Microsoft.KeyVault/vaults/read' // list the vaults of a subscription, with their vaultUri
  'Microsoft.Network/applicationGateways/read' // CertificateBinding and ServedCertificate: App Gateway
  'Microsoft.Network/frontDoors/read' // Front Door classic
  'Microsoft.Cdn/profiles/read' // Front Door Standard/Premium and classic CDN profiles
  'Microsoft.Cdn/profiles/secrets/read' // Front Door secrets (a Key Vault reference, never a value)
  'Microsoft.Cdn/profiles/customdomains/read' // Front Door custom domains (served hostnames)
  'Microsoft.Cdn/profiles/endpoints/read' // classic CDN endpoints
  'Microsoft.Cdn/profiles/endpoints/customdomains/read' // classic CDN custom domains
  'Microsoft.ApiManagement/service/read' // API Management hostname configurations
  'Microsoft.Web/certificates/Read' // App Service certificates
  'Microsoft.Web/sites/Read' // App Service sites (hostname bindings)
  'Microsoft.App/managedEnvironments/read' // Container Apps environments
  'Microsoft.App/managedEnvironments/certificates/read' // their certificates
  'Microsoft.App/containerApps/read' // Container Apps custom domains (served hostnames)
]
var scanDataActions = [
  // List certificates and get one: properties, policy, cer, versions and pending operations are all this
  // one data action (Key Vault has no separate data action for versions or pending operations).
  'Microsoft.KeyVault/vaults/certificates/read'
  // A reference that names a plain secret: its metadata only (never secrets/getSecret/action, the value).
  'Microsoft.KeyVault/vaults/secrets/readMetadata/action'
]
// Remediation: read the certificate (its cer, for the self-signed guard) and update its policy. Nothing
// that creates, imports, deletes, purges, backs up or restores.
var remediateDataActions = [
  'Microsoft.KeyVault/vaults/certificates/read'
  'Microsoft.KeyVault/vaults/certificates/update/action'
]

resource scanRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (!useBuiltInRoles) {
  name: scanRoleName
  properties: {
    roleName: 'AutoRenew Guard scan ${uniqueString(subscription().id, principalId)}'
    description: 'Read what AutoRenew Guard scans: subscriptions, Key Vaults, certificate metadata and the services that serve certificates. No private key, no secret value.'
    type: 'CustomRole'
    assignableScopes: [subscription().id]
    permissions: [
      {
        actions: scanActions
        notActions: []
        dataActions: scanDataActions
        notDataActions: []
      }
    ]
  }
}

resource remediateRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (autoRemediate && !useBuiltInRoles) {
  name: remediateRoleName
  properties: {
    roleName: 'AutoRenew Guard remediate ${uniqueString(subscription().id, principalId)}'
    description: 'Turn on AutoRenew in Key Vault certificate policies: certificate read and update only.'
    type: 'CustomRole'
    assignableScopes: [subscription().id]
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: remediateDataActions
        notDataActions: []
      }
    ]
  }
}

resource scan 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!useBuiltInRoles) {
  name: guid(subscription().id, principalId, scanRoleName)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', scanRoleName)
  }
  dependsOn: [scanRole]
}

resource remediate 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (autoRemediate && !useBuiltInRoles) {
  name: guid(subscription().id, principalId, remediateRoleName)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', remediateRoleName)
  }
  dependsOn: [remediateRole]
}

// The built-in option. Reader is "*/read": subscriptions, vaults and every service type above.
resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (useBuiltInRoles) {
  name: guid(subscription().id, principalId, readerRoleId)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRoleId)
  }
}

// Key Vault data reads (its data action Microsoft.KeyVault/vaults/*/read covers certificates/read), in
// vaults that use Azure RBAC. Vaults that use access policies need a policy instead (docs/DEPLOY.md).
resource keyVaultReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (useBuiltInRoles) {
  name: guid(subscription().id, principalId, keyVaultReaderRoleId)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultReaderRoleId)
  }
}

// Only with autoRemediate: its data action Microsoft.KeyVault/vaults/certificates/* includes
// certificates/update (and also create, import, delete and purge, which the custom role leaves out).
resource certificatesOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (autoRemediate && useBuiltInRoles) {
  name: guid(subscription().id, principalId, keyVaultCertificatesOfficerRoleId)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCertificatesOfficerRoleId)
  }
}

output subscriptionId string = subscription().subscriptionId
