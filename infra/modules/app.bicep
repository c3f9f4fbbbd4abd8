// The app resource group: user-assigned identity, storage (no shared keys), Log Analytics + Application
// Insights (local auth off: the identity sends telemetry), Key Vault (RBAC), the Flex Consumption plan and
// Function App, and the data-plane roles.
targetScope = 'resourceGroup'

param location string
param token string
param tags object
@description('Every HYBRIDNET_* app setting, from main.parameters.json.')
param hybridnetSettings object
@description('\'recover\' when a soft-deleted vault of this name exists (after `azd down`): the preprovision hook decides (infra/hooks/preprovision.sh).')
@allowed(['default', 'recover'])
param keyVaultCreateMode string = 'default'

var storageName = 'st${token}'
var deploymentContainer = 'app-package'
var deadLetterContainer = 'eventgrid-deadletter'
var reconcileQueue = 'hybridnet-reconcile' // shared/triggers/drift.py RECONCILE_QUEUE

// Built-in role definition ids (Azure built-in roles documentation).
var roles = {
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  blobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  queueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb' // App Insights ingestion with Entra ID auth
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-hybridnet-${token}'
  location: location
  tags: tags
}

// Event Grid's own identity for dead-lettering (the storage account accepts no shared keys).
resource eventGridIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-hybridnet-eventgrid-${token}'
  location: location
  tags: tags
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
  }
  resource blobs 'blobServices' = {
    name: 'default'
    resource deployment 'containers' = { name: deploymentContainer }
    resource deadLetter 'containers' = { name: deadLetterContainer }
  }
  resource queues 'queueServices' = {
    name: 'default'
    resource reconcile 'queues' = { name: reconcileQueue }
  }
  resource tables 'tableServices' = { name: 'default' }
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-hybridnet-${token}'
  location: location
  tags: tags
  properties: { sku: { name: 'PerGB2018' }, retentionInDays: 30 }
}

// Local (instrumentation key) auth off: only Entra ID tokens are accepted, so the app identity needs
// Monitoring Metrics Publisher and APPLICATIONINSIGHTS_AUTHENTICATION_STRING (as in the Azure-Samples
// functions-quickstart-python-azd-otel template: `disableLocalAuth: true` + that role + that setting).
resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-hybridnet-${token}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

// IPsec keys are escrowed here as secret ipsec-<site>; only the app's identity gets a data role.
// Purge protection stays on: after `azd down` the vault (and every escrowed key) is soft-deleted and cannot
// be purged for 90 days. The name is stable per environment, so the next `azd up` recovers it
// (createMode 'recover', chosen by the preprovision hook) instead of failing on the name or losing the keys.
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv-${token}'
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    createMode: keyVaultCreateMode
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-hybridnet-${token}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

// Settings the template owns; every HYBRIDNET_* tunable comes from the hybridnetSettings parameter.
var fixedSettings = {
  AzureWebJobsStorage__accountName: storage.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.properties.clientId
  AZURE_CLIENT_ID: identity.properties.clientId
  AZURE_SUBSCRIPTION_ID: subscription().subscriptionId
  APPLICATIONINSIGHTS_CONNECTION_STRING: insights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD;ClientId=${identity.properties.clientId}'
  // host.json has "telemetryMode": "OpenTelemetry"; with this the host lets the Python worker export its own
  // logs (shared/telemetry.py) instead of forwarding them a second time ("Use OpenTelemetry with Azure
  // Functions", Microsoft Learn). PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY is deliberately not set: it
  // makes the worker configure Azure Monitor itself (without the identity), a second exporter.
  PYTHON_ENABLE_OPENTELEMETRY: 'true'
  HYBRIDNET_ARM_ENDPOINT: environment().resourceManager
  HYBRIDNET_TABLES_ACCOUNT_URL: storage.properties.primaryEndpoints.table
  HYBRIDNET_KEYVAULT_URL: vault.properties.vaultUri
  HYBRIDNET_APP_PRINCIPAL_IDS: '${identity.properties.principalId},${identity.properties.clientId}' // oid and appid claims
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: 'func-hybridnet-${token}'
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id // for @Microsoft.KeyVault(...) values, e.g. the topic key
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identity.id }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: 40, instanceMemoryMB: 2048 }
      runtime: { name: 'python', version: '3.11' }
    }
  }
  dependsOn: [storageRoles]

  // App settings as the `appsettings` config child whose properties ARE the settings object, as the
  // Azure-Samples Flex Consumption templates do (infra/core/host/functions-flexconsumption.bicep). A
  // `siteConfig.appSettings` array built with a `for` over these values would not compile: the identity's
  // client id, the connection string and the endpoints are known only during the deployment (BCP178).
  resource appSettings 'config' = {
    name: 'appsettings'
    properties: union(fixedSettings, hybridnetSettings)
  }
}

// Data roles for the app identity: host (blobs: leases, deployment package; queues), app tables, vault.
var storageRoleIds = [roles.blobDataOwner, roles.queueDataContributor, roles.tableDataContributor]
resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in storageRoleIds: {
    name: guid(storage.id, identity.id, roleId)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: identity.properties.principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource vaultRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource telemetryRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: insights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Event Grid writes undeliverable events to the dead-letter container only.
resource deadLetterRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage::blobs::deadLetter.id, eventGridIdentity.id, roles.blobDataContributor)
  scope: storage::blobs::deadLetter
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor)
    principalId: eventGridIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
output functionAppId string = functionApp.id
output functionAppName string = functionApp.name
output eventGridIdentityId string = eventGridIdentity.id
output storageId string = storage.id
output storageName string = storage.name
output deadLetterContainer string = deadLetterContainer
output keyVaultUri string = vault.properties.vaultUri
output keyVaultName string = vault.name
