// The app resource group: user-assigned identity, storage (no shared keys), Log Analytics + Application
// Insights, Key Vault (RBAC), the Flex Consumption plan and Function App, and the data-plane roles.
targetScope = 'resourceGroup'

param location string
param token string
param tags object
@description('Every HYBRIDNET_* app setting, from main.parameters.json.')
param hybridnetSettings object

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

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-hybridnet-${token}'
  location: location
  tags: tags
  kind: 'web'
  properties: { Application_Type: 'web', WorkspaceResourceId: logs.id }
}

// IPsec keys are escrowed here as secret ipsec-<site>; only the app's identity gets a data role.
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv-${token}'
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
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
  HYBRIDNET_ARM_ENDPOINT: environment().resourceManager
  HYBRIDNET_TABLES_ACCOUNT_URL: storage.properties.primaryEndpoints.table
  HYBRIDNET_KEYVAULT_URL: vault.properties.vaultUri
  HYBRIDNET_APP_PRINCIPAL_IDS: '${identity.properties.principalId},${identity.properties.clientId}' // oid and appid claims
}
var allSettings = union(fixedSettings, hybridnetSettings)

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
      appSettings: [for item in items(allSettings): { name: item.key, value: string(item.value) }]
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
