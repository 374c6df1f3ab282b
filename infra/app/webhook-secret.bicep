// The alert webhook URL as a Key Vault secret. keyvault.bicep deploys this module only when a URL is given,
// so the secret itself is an ordinary (unconditional) resource that every template check can read.
param keyVaultName string
param secretName string
@secure()
param value string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: secretName
  properties: {
    value: value
    contentType: 'text/uri-list'
    // No expiry date: a webhook URL does not expire, and an expired secret would break the Key Vault
    // reference and with it the app's start (see CKV_AZURE_41 in .checkov.yaml).
  }
}

output secretUri string = secret.properties.secretUri
