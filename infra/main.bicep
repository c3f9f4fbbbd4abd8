// hybridnet: the Function App, its storage, monitoring and Key Vault in their own resource group, a
// least-privilege custom role on each site's resource group, and Event Grid wiring from each site's
// resource group to the app's Event Grid trigger. Deploy with `azd up` (see README "Deploying").
targetScope = 'subscription'

@description('azd environment name; names and tags derive from it.')
@minLength(1)
@maxLength(40)
param environmentName string

@description('Region of the app resource group and its resources.')
param location string

@description('Resource group for the app itself (not a site resource group).')
param appResourceGroupName string = 'rg-${environmentName}'

@description('Every HYBRIDNET_* app setting (mode, schedules, tunables): merged into the app settings as is.')
param hybridnetSettings object

@description('\'true\' once the code is deployed: the Event Grid subscriptions need the arm_event function to exist (azure.yaml re-provisions with it after the first deploy).')
@allowed(['true', 'false'])
param wireEventGrid string = 'false'

@description('Create metric alerts (ExpressRoute BgpAvailability, VPN tunnel bandwidth) that call POST /api/alerts.')
param enableAlerts bool = false

@description('Event Grid system topics that already exist, by site resource group name: { "<resource group>": "<topic name>" }. A resource group holds at most one system topic; the subscription is added to the one named here.')
param existingSystemTopics object = {}

@description('\'recover\' after `azd down` left the vault soft-deleted (set by infra/hooks/preprovision.sh).')
@allowed(['default', 'recover'])
param keyVaultCreateMode string = 'default'

// The sites come from the spec, the only place they are declared: `hybridnet infra-sites network.yaml`
// writes infra/sites.json and the preprovision hook refuses to deploy when it disagrees with the spec.
// loadJsonContent reads it at compile time, so every loop below runs over values known before the
// deployment starts.
var siteData = loadJsonContent('sites.json')
var sites = siteData.sites
var contract = loadJsonContent('app-contract.json')
var token = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName, app: 'hybridnet' }
var siteScopes = [for rg in siteData.resourceGroups: '${subscription().id}/resourceGroups/${rg}']
var circuitScopes = [for c in siteData.circuits: '/subscriptions/${c.subscriptionId}/resourceGroups/${c.resourceGroup}']

resource appGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: appResourceGroupName
  location: location
  tags: tags
}

module app 'modules/app.bicep' = {
  name: 'hybridnet-app'
  scope: appGroup
  params: {
    location: location
    token: token
    tags: tags
    hybridnetSettings: hybridnetSettings
    keyVaultCreateMode: keyVaultCreateMode
  }
}

// Exactly the Microsoft.Network actions the code calls, plus the linked actions ARM checks on what the
// request bodies reference (tests/test_infra.py derives both), assignable only at the sites' resource
// groups. No deletes, no wildcards.
resource networkRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'hybridnet-network', environmentName)
  properties: {
    roleName: 'hybridnet network operator (${environmentName})'
    description: 'Reads and (in enforce mode) writes the hybrid network resources hybridnet manages; reads and sets IPsec shared keys.'
    type: 'CustomRole'
    permissions: [
      {
        actions: contract.networkRoleActions
        notActions: []
      }
    ]
    assignableScopes: siteScopes
  }
}

// Connecting a gateway to an ExpressRoute circuit joins the circuit, which usually lives elsewhere (another
// resource group, often another subscription): a second role with only that action, assigned on each
// circuit itself.
resource circuitRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'hybridnet-circuit', environmentName)
  properties: {
    roleName: 'hybridnet circuit join (${environmentName})'
    description: 'Lets hybridnet (re)connect a site gateway to its ExpressRoute circuit.'
    type: 'CustomRole'
    permissions: [
      {
        actions: contract.circuitRoleActions
        notActions: []
      }
    ]
    assignableScopes: circuitScopes
  }
}

module site 'modules/site.bicep' = [
  for rg in siteData.resourceGroups: {
    name: 'hybridnet-rg-${uniqueString(rg)}'
    scope: resourceGroup(rg)
    params: {
      principalId: app.outputs.principalId
      clientId: app.outputs.clientId
      networkRoleId: networkRole.id
      wireEventGrid: wireEventGrid == 'true'
      functionAppId: app.outputs.functionAppId
      includedEventTypes: contract.includedEventTypes
      appEventFilter: contract.appEventFilter
      eventGridIdentityId: app.outputs.eventGridIdentityId
      deadLetterStorageId: app.outputs.storageId
      deadLetterContainer: app.outputs.deadLetterContainer
      existingTopicName: contains(existingSystemTopics, rg) ? existingSystemTopics[rg] : ''
    }
  }
]

module circuitAccess 'modules/circuit-access.bicep' = [
  for c in siteData.circuits: {
    name: 'hybridnet-circuit-${uniqueString(c.id)}'
    scope: resourceGroup(c.subscriptionId, c.resourceGroup)
    params: {
      circuitName: c.name
      principalId: app.outputs.principalId
      circuitRoleName: circuitRole.name
    }
  }
]

// Alerts need the function key, which exists once the code runs: created with the Event Grid wiring.
module alerts 'modules/alerts.bicep' = if (enableAlerts && wireEventGrid == 'true') {
  name: 'hybridnet-alerts'
  scope: appGroup
  params: {
    sites: sites
    functionAppName: app.outputs.functionAppName
    tags: tags
  }
}

output AZURE_RESOURCE_GROUP string = appGroup.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.functionAppName
output AZURE_KEY_VAULT_URI string = app.outputs.keyVaultUri
output AZURE_KEY_VAULT_NAME string = app.outputs.keyVaultName
output HYBRIDNET_APP_PRINCIPAL_ID string = app.outputs.principalId
output AZURE_STORAGE_ACCOUNT string = app.outputs.storageName
