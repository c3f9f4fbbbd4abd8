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

@description('The sites, mirroring the spec (examples/seed-network.yaml): name, resourceGroup, vnet, onPremises, expressRoute {gatewayName, connectionName, circuitId}, vpn {gatewayName, connectionName, localNetworkGatewayName}.')
param sites array

@description('Every HYBRIDNET_* app setting (mode, schedules, tunables): merged into the app settings as is.')
param hybridnetSettings object

@description('\'true\' once the code is deployed: the Event Grid subscriptions need the arm_event function to exist (azure.yaml re-provisions with it after the first deploy).')
@allowed(['true', 'false'])
param wireEventGrid string = 'false'

@description('Create metric alerts (ExpressRoute BgpAvailability, VPN tunnel bandwidth) that call POST /api/alerts.')
param enableAlerts bool = false

var contract = loadJsonContent('app-contract.json')
var token = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName, app: 'hybridnet' }
var siteScopes = [for site in sites: '${subscription().id}/resourceGroups/${site.resourceGroup}']
var circuitScopes = [for site in sites: join(take(split(site.expressRoute.circuitId, '/'), 5), '/')]

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
  }
}

// Exactly the Microsoft.Network actions the code calls (tests/test_infra.py derives them), assignable only
// at the sites' resource groups. No deletes, no wildcards.
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
    assignableScopes: union(siteScopes, []) // union() drops duplicates (sites sharing a group)
  }
}

// Connecting a gateway to an ExpressRoute circuit joins the circuit, which usually lives elsewhere: a second
// role with only that action, assigned on each circuit itself.
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
    assignableScopes: union(circuitScopes, [])
  }
}

module site 'modules/site.bicep' = [
  for s in sites: {
    name: 'hybridnet-site-${s.name}'
    scope: resourceGroup(s.resourceGroup)
    params: {
      siteName: s.name
      principalId: app.outputs.principalId
      clientId: app.outputs.clientId
      networkRoleId: networkRole.id
      wireEventGrid: wireEventGrid == 'true'
      functionAppId: app.outputs.functionAppId
      includedEventTypes: contract.includedEventTypes
      eventGridIdentityId: app.outputs.eventGridIdentityId
      deadLetterStorageId: app.outputs.storageId
      deadLetterContainer: app.outputs.deadLetterContainer
    }
  }
]

module circuitAccess 'modules/circuit-access.bicep' = [
  for s in sites: {
    name: 'hybridnet-circuit-${s.name}'
    scope: resourceGroup(split(s.expressRoute.circuitId, '/')[2], split(s.expressRoute.circuitId, '/')[4])
    params: {
      circuitName: last(split(s.expressRoute.circuitId, '/'))
      principalId: app.outputs.principalId
      circuitRoleId: circuitRole.id
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
output HYBRIDNET_APP_PRINCIPAL_ID string = app.outputs.principalId
output AZURE_STORAGE_ACCOUNT string = app.outputs.storageName
