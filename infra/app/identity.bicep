// The user-assigned identity the Function App runs as: storage, Key Vault references, Application Insights
// and every scan call use it (AZURE_CLIENT_ID selects it for DefaultAzureCredential).
param name string
param location string = resourceGroup().location
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
