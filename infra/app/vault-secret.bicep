// One alert setting (a webhook URL, or the named routes) as a Key Vault secret. keyvault.bicep deploys this
// module only when a value is given, so the secret itself is an ordinary (unconditional) resource that every
// template check can read. No parameter or output name here says "secret": the Bicep linter would take a
// name for a secret value (secure-secrets-in-params) when only the value is one.
param keyVaultName string
@description('Name of the entry in the vault.')
param entryName string
@secure()
param value string
param contentType string = 'text/plain'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: entryName
  properties: {
    value: value
    contentType: contentType
    // No expiry date: a webhook URL does not expire, and an expired secret would break the Key Vault
    // reference and with it the alerts (see CKV_AZURE_41 in .checkov.yaml).
  }
}

