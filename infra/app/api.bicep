// The Function App on a Flex Consumption (FC1) plan, Python 3.11, running as the user-assigned identity.
// Every app setting is listed here, in one place; tests/test_infra.py checks them against the names that
// shared/settings.py reads. No setting holds a shared key: storage and telemetry use the identity.
param name string
param planName string
param location string = resourceGroup().location
param tags object = {}
param serviceName string = 'api'

param identityId string
param identityClientId string
param storageAccountName string
param storageBlobEndpoint string
param storageQueueEndpoint string
param storageTableEndpoint string
param deploymentContainerName string
param applicationInsightsConnectionString string

@description('Versionless Key Vault URI of the webhook URL; empty: ALERT_WEBHOOK_URL stays empty (no central webhook).')
param alertWebhookReferenceUri string = ''
@description('Versionless Key Vault URI of the named routes; empty: ALERT_ROUTES stays empty (no routes).')
param alertRoutesReferenceUri string = ''

// The app's settings (README, Settings; defaults live in main.bicep).
param subscriptionIds string
param armEndpoint string
param alertWebhookKind string
param expiryWarningDays int
param exemptTags string
param scanSchedule string
param retentionDays int
param alertOnClean bool
param autoRemediate bool
param scanVaultConcurrency int
param scanRequestsPerVault int
param maxAutoRemediations int
param alertRouteTag string
param alertRemindDays int
param alertMaxItems int
param reportUrl string

@allowed([2048, 4096])
param instanceMemoryMB int = 2048
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    // Key Vault references (ALERT_WEBHOOK_URL, ALERT_ROUTES) resolve with the user-assigned identity.
    keyVaultReferenceIdentity: identityId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
      ftpsState: 'Disabled'
      appSettings: [
        // Functions host storage, identity-based (no AzureWebJobsStorage connection string). The service URIs
        // carry the cloud's storage suffix: the account name alone means the public cloud's core.windows.net.
        { name: 'AzureWebJobsStorage__accountName', value: storageAccountName }
        { name: 'AzureWebJobsStorage__blobServiceUri', value: storageBlobEndpoint }
        { name: 'AzureWebJobsStorage__queueServiceUri', value: storageQueueEndpoint }
        { name: 'AzureWebJobsStorage__tableServiceUri', value: storageTableEndpoint }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
        // DefaultAzureCredential picks the user-assigned identity.
        { name: 'AZURE_CLIENT_ID', value: identityClientId }
        // Telemetry with Entra ID authentication (the component has local auth disabled).
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: applicationInsightsConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
        // The app's own settings (README, Settings).
        { name: 'AZURE_SUBSCRIPTION_IDS', value: subscriptionIds }
        { name: 'ARM_ENDPOINT', value: armEndpoint }
        { name: 'PORTAL_URL', value: environment().portal }
        { name: 'FINDINGS_TABLE_ENDPOINT', value: storageTableEndpoint }
        {
          name: 'ALERT_WEBHOOK_URL'
          value: empty(alertWebhookReferenceUri) ? '' : '@Microsoft.KeyVault(SecretUri=${alertWebhookReferenceUri})'
        }
        {
          name: 'ALERT_ROUTES'
          value: empty(alertRoutesReferenceUri) ? '' : '@Microsoft.KeyVault(SecretUri=${alertRoutesReferenceUri})'
        }
        { name: 'ALERT_ROUTE_TAG', value: alertRouteTag }
        { name: 'ALERT_REMIND_DAYS', value: string(alertRemindDays) }
        { name: 'ALERT_MAX_ITEMS', value: string(alertMaxItems) }
        { name: 'REPORT_URL', value: reportUrl }
        { name: 'ALERT_WEBHOOK_KIND', value: alertWebhookKind }
        { name: 'EXPIRY_WARNING_DAYS', value: string(expiryWarningDays) }
        { name: 'EXEMPT_TAGS', value: exemptTags }
        { name: 'SCAN_SCHEDULE', value: scanSchedule }
        { name: 'RETENTION_DAYS', value: string(retentionDays) }
        { name: 'ALERT_ON_CLEAN', value: alertOnClean ? 'true' : 'false' }
        { name: 'AUTO_REMEDIATE', value: autoRemediate ? 'true' : 'false' }
        { name: 'SCAN_VAULT_CONCURRENCY', value: string(scanVaultConcurrency) }
        { name: 'SCAN_REQUESTS_PER_VAULT', value: string(scanRequestsPerVault) }
        { name: 'MAX_AUTO_REMEDIATIONS', value: string(maxAutoRemediations) }
      ]
    }
  }
}

// Publishing with a user name and password is off: azd, the Azure CLI and Core Tools deploy with Entra ID.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = functionApp.name
output id string = functionApp.id
output url string = 'https://${functionApp.properties.defaultHostName}'
