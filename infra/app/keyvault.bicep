// The vault that holds the alert webhooks (secrets: anyone with a URL can post to its channel):
// ALERT_WEBHOOK_URL and ALERT_ROUTES. The Function App reads them through Key Vault references with its
// user-assigned identity, which holds Key Vault Secrets User on this vault (rbac.bicep). RBAC authorization,
// soft delete and purge protection.
param name string
param location string = resourceGroup().location
param tags object = {}
@secure()
@description('Teams Workflows or Slack incoming-webhook URL; empty: nothing is written.')
param alertWebhookUrl string = ''
@secure()
@description('Named routes, name=URL pairs separated by ";"; empty: nothing is written.')
param alertRoutes string = ''
// Whether a value was given, passed by main.bicep apart from the values: the outputs below depend on these
// and never on a secure parameter (outputs are kept in the deployment history).
param storeAlertWebhookUrl bool = false
param storeAlertRoutes bool = false

var alertWebhookEntryName = 'alert-webhook-url'
var alertRoutesEntryName = 'alert-routes'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    // Flex Consumption without a virtual network resolves Key Vault references over the public endpoint;
    // reading the secret still needs an Entra ID token and the Key Vault Secrets User role.
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

module alertWebhookEntry 'vault-secret.bicep' = if (storeAlertWebhookUrl) {
  name: '${deployment().name}-alert-webhook'
  params: {
    keyVaultName: vault.name
    entryName: alertWebhookEntryName
    value: alertWebhookUrl
    contentType: 'text/uri-list'
  }
}

module alertRoutesEntry 'vault-secret.bicep' = if (storeAlertRoutes) {
  name: '${deployment().name}-alert-routes'
  params: {
    keyVaultName: vault.name
    entryName: alertRoutesEntryName
    value: alertRoutes
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
// Versionless, so a rotated value is picked up without redeploying; empty when no value was given, and
// the app setting stays empty too (a reference to a missing secret would not resolve).
output alertWebhookReferenceUri string = storeAlertWebhookUrl ? '${vault.properties.vaultUri}secrets/${alertWebhookEntryName}' : ''
output alertRoutesReferenceUri string = storeAlertRoutes ? '${vault.properties.vaultUri}secrets/${alertRoutesEntryName}' : ''
