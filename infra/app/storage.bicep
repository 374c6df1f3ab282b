// The app's storage account: the Functions host (AzureWebJobsStorage, identity-based), the Flex Consumption
// deployment container and the findings tables (FINDINGS_TABLE_ENDPOINT). Shared keys are off: every client
// authenticates with Microsoft Entra ID, so no connection string with a key exists anywhere.
param name string
param location string = resourceGroup().location
param tags object = {}
param deploymentContainerName string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  // Geo-redundant: stored scan history survives a regional outage for a few cents a month more than LRS.
  sku: {
    name: 'Standard_GRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    dnsEndpointType: 'Standard'
    isLocalUserEnabled: false
    isSftpEnabled: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // Flex Consumption without a virtual network reaches storage over its public endpoint;
    // access still needs an Entra ID token and a data role (see rbac.bicep).
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }

  resource blobServices 'blobServices' = {
    name: 'default'
    properties: {
      deleteRetentionPolicy: {
        enabled: true
        days: 7
      }
    }

    // Flex Consumption reads the app package from this container (functionAppConfig.deployment.storage).
    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
      properties: {
        publicAccess: 'None'
      }
    }
  }
}

output id string = storage.id
output name string = storage.name
// Endpoints from the cloud's own storage suffix (core.windows.net, core.usgovcloudapi.net, core.chinacloudapi.cn,
// ...), never a hard-coded public-cloud host; with dnsEndpointType 'Standard' they equal the account's
// primaryEndpoints. The Functions host gets them as AzureWebJobsStorage__*ServiceUri (app/api.bicep).
output blobEndpoint string = 'https://${storage.name}.blob.${environment().suffixes.storage}/'
output queueEndpoint string = 'https://${storage.name}.queue.${environment().suffixes.storage}/'
output tableEndpoint string = 'https://${storage.name}.table.${environment().suffixes.storage}/'
