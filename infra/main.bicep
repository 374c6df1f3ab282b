// AutoRenew Guard: a Flex Consumption Function App that scans Key Vault certificates (rule KeyVault-006).
// Deployed at subscription scope: it creates the resource group and grants the app's identity read access
// to the subscription. `azd up` fills environmentName and location; see docs/DEPLOY.md.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the environment, used for the resource group name and a unique suffix of every resource name.')
param environmentName string

@minLength(1)
@description('Region of every resource; it must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
// The regions that offer Flex Consumption, as listed by Microsoft's own azd template for it
// (Azure-Samples/functions-quickstart-python-http-azd, infra/main.bicep, the same at commits fe29236 and 0bb0f10),
// less its canary region eastus2euap, which ordinary subscriptions cannot use. Microsoft adds regions over
// time: when `az functionapp list-flexconsumption-locations` names one missing here, add it (docs/DEPLOY.md).
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

// ---- App settings of README's Settings table (each default is the app's own default) ----

@description('AZURE_SUBSCRIPTION_IDS: comma-separated subscription ids to scan; empty scans every subscription the identity can read.')
param subscriptionIds string = ''

@description('ARM_ENDPOINT: Resource Manager endpoint; follows the cloud this is deployed to.')
param armEndpoint string = environment().resourceManager

@secure()
@description('ALERT_WEBHOOK_URL: Teams Workflows or Slack incoming-webhook URL, stored in Key Vault; empty: no alerts.')
param alertWebhookUrl string = ''

@allowed([
  'auto'
  'teams'
  'slack'
  'generic'
])
@description('ALERT_WEBHOOK_KIND: payload format of the webhook; auto chooses by the URL host.')
param alertWebhookKind string = 'auto'

@minValue(0)
@maxValue(3650)
@description('EXPIRY_WARNING_DAYS: window of the CertificateExpiry rule, in days.')
param expiryWarningDays int = 30

@description('EXEMPT_TAGS: comma-separated key=value tags that exempt a certificate from KeyVault-006.')
param exemptTags string = 'autorenew-exempt=true,Issuer=Acmebot'

@description('SCAN_SCHEDULE: NCRONTAB (six fields, UTC) of the scan timer.')
param scanSchedule string = '0 0 6 * * *'

@minValue(1)
@maxValue(3650)
@description('RETENTION_DAYS: stored scans older than this are deleted.')
param retentionDays int = 90

@description('ALERT_ON_CLEAN: also post an all-clear when a scan finds no problem.')
param alertOnClean bool = false

@description('AUTO_REMEDIATE: the timer turns on AutoRenew where Key Vault can renew; also grants the remediation role (certificate read and policy update) on every scanned subscription.')
param autoRemediate bool = false

@description('Grant the built-in roles (Reader, Key Vault Reader, and Key Vault Certificates Officer with autoRemediate) instead of the custom least-privilege roles, e.g. where custom roles are not allowed.')
param useBuiltInRoles bool = false

@minValue(1)
@maxValue(256)
@description('SCAN_VAULT_CONCURRENCY: vaults read at the same time.')
param scanVaultConcurrency int = 64

@minValue(1)
@maxValue(64)
@description('SCAN_REQUESTS_PER_VAULT: requests in flight per vault.')
param scanRequestsPerVault int = 4

@minValue(0)
@maxValue(10000)
@description('MAX_AUTO_REMEDIATIONS: at most this many certificates changed by one timer run; the rest are listed as not attempted.')
param maxAutoRemediations int = 25

@secure()
@description('ALERT_ROUTES: more webhooks by name, name=URL pairs separated by ";", stored in Key Vault; empty: only ALERT_WEBHOOK_URL.')
param alertRoutes string = ''

@minLength(1)
@maxLength(512)
@description('ALERT_ROUTE_TAG: the tag (on a certificate, else its vault) whose value names the route of its problems.')
param alertRouteTag string = 'alert-route'

@minValue(0)
@maxValue(365)
@description('ALERT_REMIND_DAYS: an unchanged problem is posted again only after this many days (0: every scan).')
param alertRemindDays int = 7

@minValue(1)
@maxValue(1000)
@description('ALERT_MAX_ITEMS: problems listed per webhook per digest; the rest are counted with a link to the report.')
param alertMaxItems int = 50

@description('REPORT_URL: where the "open the report" button of each digest points (https, behind sign-in, never with ?code=); empty: no button.')
param reportUrl string = ''

// ---- Azure Monitor Logs ----

@description('Send every stored scan\'s findings to the table AutoRenewGuard_CL of the app\'s Log Analytics workspace (sets LOGS_INGESTION_ENDPOINT and LOGS_DCR_IMMUTABLE_ID), with a Workbook.')
param enableLogsExport bool = true

@description('Comma-separated e-mail addresses of an hourly alert on a critical or high problem in the latest scan (an action group); empty: no alert. Needs enableLogsExport.')
param alertEmails string = ''

// ---- ServedCertificate: TLS handshakes with the services' hostnames ----

@description('PROBE_ENDPOINTS: handshake with every hostname the scanned services serve a Key Vault certificate on (needs outbound 443 to them).')
param probeEndpoints bool = true

@minValue(1)
@maxValue(120)
@description('PROBE_TIMEOUT_SECONDS: per address, resolve, connect and handshake together.')
param probeTimeoutSeconds int = 10

@minValue(1)
@maxValue(512)
@description('PROBE_CONCURRENCY: handshakes in flight.')
param probeConcurrency int = 32

@description('PROBE_CONNECT_TO: HOST:PORT:CONNECT_HOST:CONNECT_PORT pairs, comma-separated (curl --connect-to), for split-horizon DNS and private frontends.')
param probeConnectTo string = ''

@description('Resource id of a subnet (delegated to Microsoft.App/environments) for Flex Consumption VNet integration, so the probe reaches private frontends; empty: no VNet integration.')
param vnetSubnetId string = ''

// ---- Scope of the scan ----

@description('Comma-separated further subscription ids where the identity gets the same read roles (the deployer needs Owner or User Access Administrator there).')
param additionalScanSubscriptionIds string = ''

// ---- Sizing ----

@minValue(40)
@maxValue(1000)
@description('Upper bound of Flex Consumption instances (40 is the smallest allowed).')
param maximumInstanceCount int = 40

@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

// ---- Optional resource names (empty: derived from abbreviations.json and a unique token) ----

param resourceGroupName string = ''
param functionAppName string = ''
param appServicePlanName string = ''
param storageAccountName string = ''
param keyVaultName string = ''
param identityName string = ''
param logAnalyticsName string = ''
param applicationInsightsName string = ''

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
// No lambdas (filter/map): checkov's Bicep parser cannot read them yet. Spaces are dropped; no trailing comma.
var additionalScanSubscriptionList = replace(additionalScanSubscriptionIds, ' ', '')
var additionalScanSubscriptions = empty(additionalScanSubscriptionList) ? [] : split(additionalScanSubscriptionList, ',')
var alertEmailList = replace(alertEmails, ' ', '')
var alertEmailAddresses = empty(alertEmailList) ? [] : split(alertEmailList, ',')
var apiName = !empty(functionAppName) ? functionAppName : '${abbrs.webSitesFunctions}api-${resourceToken}'
var deploymentContainerName = 'app-package-${take(resourceToken, 7)}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: !empty(identityName) ? identityName : '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: !empty(storageAccountName) ? storageAccountName : '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: !empty(logAnalyticsName) ? logAnalyticsName : '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: !empty(applicationInsightsName) ? applicationInsightsName : '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: !empty(keyVaultName) ? keyVaultName : '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
    alertWebhookUrl: alertWebhookUrl
    alertRoutes: alertRoutes
    // Whether each secret is stored, passed apart from the values, so that no output of the module is
    // computed from a secure parameter (outputs are kept in the deployment history, readable by Readers).
    storeAlertWebhookUrl: !empty(alertWebhookUrl)
    storeAlertRoutes: !empty(alertRoutes)
  }
}

// Data roles on the app's own storage account, vault and Application Insights.
module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

// The scan role (and the remediation role with autoRemediate) on the home subscription ...
module scanAccess 'app/scan-access.bicep' = {
  name: 'scan-access-${resourceToken}'
  params: {
    principalId: identity.outputs.principalId
    autoRemediate: autoRemediate
    useBuiltInRoles: useBuiltInRoles
  }
}

// ... and on every further subscription to scan.
module additionalScanAccess 'app/scan-access.bicep' = [
  for subscriptionId in additionalScanSubscriptions: {
    name: 'scan-access-${resourceToken}-${subscriptionId}'
    scope: subscription(subscriptionId)
    params: {
      principalId: identity.outputs.principalId
      autoRemediate: autoRemediate
      useBuiltInRoles: useBuiltInRoles
    }
  }
]

// Findings in Azure Monitor Logs: table, data collection rule, its role for the app, Workbook, e-mail alert.
module monitorExport 'app/monitor.bicep' = if (enableLogsExport) {
  name: 'monitor-export'
  scope: rg
  params: {
    logAnalyticsName: monitoring.outputs.logAnalyticsName
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    dataCollectionRuleName: '${abbrs.insightsDataCollectionRules}findings-${resourceToken}'
    alertEmails: alertEmailAddresses
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: apiName
    planName: !empty(appServicePlanName) ? appServicePlanName : '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    alertWebhookReferenceUri: keyVault.outputs.alertWebhookReferenceUri
    alertRoutesReferenceUri: keyVault.outputs.alertRoutesReferenceUri
    subscriptionIds: subscriptionIds
    armEndpoint: armEndpoint
    alertWebhookKind: alertWebhookKind
    expiryWarningDays: expiryWarningDays
    exemptTags: exemptTags
    scanSchedule: scanSchedule
    retentionDays: retentionDays
    alertOnClean: alertOnClean
    autoRemediate: autoRemediate
    scanVaultConcurrency: scanVaultConcurrency
    scanRequestsPerVault: scanRequestsPerVault
    maxAutoRemediations: maxAutoRemediations
    alertRouteTag: alertRouteTag
    alertRemindDays: alertRemindDays
    alertMaxItems: alertMaxItems
    reportUrl: reportUrl
    logsIngestionEndpoint: enableLogsExport ? monitorExport.outputs.logsIngestionEndpoint : ''
    logsDcrImmutableId: enableLogsExport ? monitorExport.outputs.dataCollectionRuleImmutableId : ''
    probeEndpoints: probeEndpoints
    probeTimeoutSeconds: probeTimeoutSeconds
    probeConcurrency: probeConcurrency
    probeConnectTo: probeConnectTo
    vnetSubnetId: vnetSubnetId
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
  }
  // The roles exist before the app starts, so its first Key Vault reference and storage calls succeed.
  dependsOn: [
    rbac
    monitorExport
  ]
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output AZURE_FUNCTION_URL string = api.outputs.url
output SERVICE_API_NAME string = api.outputs.name
// The identity of the app (not AZURE_PRINCIPAL_ID: azd keeps that name for the signed-in user).
output AZURE_FUNCTION_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_FUNCTION_CLIENT_ID string = identity.outputs.clientId
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output FINDINGS_TABLE_ENDPOINT string = storage.outputs.tableEndpoint
