// Findings in Azure Monitor Logs: the custom table, the data collection rule the app sends to, the
// role that lets it send, a Workbook and, when alertEmails is not empty, an hourly alert that e-mails them.
// The row's columns come from ../monitor/findings-columns.json, the file the app reads too; every KQL query
// comes from ../monitor/queries/*.kql, the files tests/test_kql.py checks with Microsoft's language service.
param logAnalyticsName string
param location string = resourceGroup().location
param tags object = {}
@description('Principal id of the app\'s identity, granted Monitoring Metrics Publisher on the rule.')
param principalId string
@description('Name of the data collection rule.')
param dataCollectionRuleName string
@description('Addresses the alert e-mails; empty: no alert and no action group.')
param alertEmails array = []

var tableName = 'AutoRenewGuard_CL'
var streamName = 'Custom-AutoRenewGuardFindings'
var columns = loadJsonContent('../monitor/findings-columns.json')
var queries = {
  complianceOverTime: loadTextContent('../monitor/queries/compliance-over-time.kql')
  openProblemsByRoute: loadTextContent('../monitor/queries/open-problems-by-route.kql')
  staleServices: loadTextContent('../monitor/queries/stale-services.kql')
  expiring60Days: loadTextContent('../monitor/queries/expiring-60-days.kql')
  alertCriticalHigh: loadTextContent('../monitor/queries/alert-critical-high.kql')
}
// The layout lives in ../monitor/workbook.json; its queries are left empty there and filled here from the
// .kql files, so each query has one copy.
var workbookLayout = loadJsonContent('../monitor/workbook.json')
var workbookContent = union(workbookLayout, {
  items: [
    workbookLayout.items[0]
    union(workbookLayout.items[1], { content: union(workbookLayout.items[1].content, { query: queries.complianceOverTime }) })
    union(workbookLayout.items[2], { content: union(workbookLayout.items[2].content, { query: queries.openProblemsByRoute }) })
    union(workbookLayout.items[3], { content: union(workbookLayout.items[3].content, { query: queries.staleServices }) })
    union(workbookLayout.items[4], { content: union(workbookLayout.items[4].content, { query: queries.expiring60Days }) })
  ]
})
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsName
}

// Custom table. Shape: Microsoft.OperationalInsights/workspaces/tables 2022-10-01 (azure-rest-api-specs
// specification/operationalinsights/resource-manager/Microsoft.OperationalInsights/stable/2022-10-01/Tables.json),
// as in Microsoft's Logs Ingestion tutorial (schema.name, schema.columns of {name, type}).
resource table 'Microsoft.OperationalInsights/workspaces/tables@2022-10-01' = {
  parent: workspace
  name: tableName
  properties: {
    plan: 'Analytics'
    schema: {
      name: tableName
      columns: columns
    }
  }
}

// A rule of kind Direct has its own logs ingestion endpoint (properties.endpoints.logsIngestion), so no data
// collection endpoint is needed. Shape and api-version: azure-rest-api-specs, Microsoft.Insights stable
// 2023-03-11, examples/DataCollectionRulesCreateEmbeddedDCE.json (kind Direct, streamDeclarations, destinations,
// dataFlows with transformKql and outputStream Custom-<table>).
resource rule 'Microsoft.Insights/dataCollectionRules@2023-03-11' = {
  name: dataCollectionRuleName
  location: location
  tags: tags
  kind: 'Direct'
  properties: {
    description: 'AutoRenew Guard findings, one row per finding of each stored scan.'
    streamDeclarations: {
      '${streamName}': {
        columns: columns
      }
    }
    destinations: {
      logAnalytics: [
        {
          name: 'workspace'
          workspaceResourceId: workspace.id
        }
      ]
    }
    dataFlows: [
      {
        streams: [
          streamName
        ]
        destinations: [
          'workspace'
        ]
        transformKql: 'source'
        outputStream: 'Custom-${tableName}'
      }
    ]
  }
  dependsOn: [
    table
  ]
}

resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(rule.id, principalId, monitoringMetricsPublisher)
  scope: rule
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher) // Monitoring Metrics Publisher
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Shape: Microsoft.Insights/workbooks 2023-06-01 (azure-rest-api-specs applicationinsights
// stable/2023-06-01/workbooks_API.json): kind shared, a GUID name, serializedData as a string, sourceId the
// workspace whose logs it queries.
resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, 'autorenew-guard-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'AutoRenew Guard findings'
    category: 'workbook'
    sourceId: workspace.id
    serializedData: string(workbookContent)
  }
}

// E-mail without mail code in the app. Shape: Microsoft.Insights/actionGroups (azure-rest-api-specs stable
// 2023-01-01, examples/createOrUpdateActionGroup.json: location Global, groupShortName up to 12 characters,
// emailReceivers of {name, emailAddress, useCommonAlertSchema}).
resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmails)) {
  name: 'ag-autorenew-guard'
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'ARGuard'
    enabled: true
    emailReceivers: [
      for (address, index) in alertEmails: {
        name: 'email-${index}'
        emailAddress: address
        useCommonAlertSchema: true
      }
    ]
  }
}

// Hourly: a critical or high problem in the latest scan. Stateful (autoMitigate): one e-mail when it fires and
// one when it resolves, not one an hour. Shape and api-version: azure-rest-api-specs Microsoft.Insights stable
// 2023-12-01, examples/createOrUpdateScheduledQueryRuleResourceGroup.json (criteria.allOf with query,
// timeAggregation Count, operator, threshold, failingPeriods; actions.actionGroups).
resource alert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = if (!empty(alertEmails)) {
  name: 'alert-autorenew-guard-critical'
  location: location
  tags: tags
  properties: {
    displayName: 'AutoRenew Guard: critical or high certificate problem'
    description: 'The latest AutoRenew Guard scan has a critical or high problem (see the workbook or /api/report).'
    severity: 1
    enabled: true
    evaluationFrequency: 'PT1H'
    // Scans run daily: two days always hold the latest one.
    windowSize: 'P2D'
    scopes: [
      workspace.id
    ]
    criteria: {
      allOf: [
        {
          query: queries.alertCriticalHigh
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
  dependsOn: [
    rule
  ]
}

output dataCollectionRuleName string = rule.name
output logsIngestionEndpoint string = rule.properties.endpoints.logsIngestion
output dataCollectionRuleImmutableId string = rule.properties.immutableId
output streamName string = streamName
output workbookId string = workbook.id
