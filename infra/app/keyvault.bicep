// The vault that holds the alert webhook URL (a secret: anyone with it can post to the channel).
// The Function App reads it through a Key Vault reference with its user-assigned identity, which holds
// Key Vault Secrets User on this vault (rbac.bicep). RBAC authorization, soft delete and purge protection.
param name string
param location string = resourceGroup().location
param tags object = {}
@secure()
@description('Teams Workflows or Slack incoming-webhook URL; empty: no secret is written and alerts stay off.')
param alertWebhookUrl string = ''
param webhookSecretName string = 'alert-webhook-url'

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

module webhookSecret 'webhook-secret.bicep' = if (!empty(alertWebhookUrl)) {
  name: '${deployment().name}-webhook-secret'
  params: {
    keyVaultName: vault.name
    secretName: webhookSecretName
    value: alertWebhookUrl
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
// Versionless, so a rotated secret is picked up without redeploying; empty when no webhook was given.
output webhookSecretUri string = empty(alertWebhookUrl) ? '' : '${vault.properties.vaultUri}secrets/${webhookSecretName}'
