// The ExpressRoute circuit's resource group (possibly in another subscription): the circuit-join role for
// the app identity, on the circuit only.
targetScope = 'resourceGroup'

param circuitName string
param principalId string
@description('Name (GUID) of the custom circuit role definition.')
param circuitRoleName string

resource circuit 'Microsoft.Network/expressRouteCircuits@2024-05-01' existing = {
  name: circuitName
}

// The definition id is built in THIS deployment's subscription, the circuit's: an assignment must reference
// its role definition through the subscription it is created in, and the custom role lists the circuit's
// resource group among its assignable scopes (main.bicep), so it is assignable here.
var circuitRoleId = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', circuitRoleName)

resource circuitJoin 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(circuit.id, principalId, circuitRoleName)
  scope: circuit
  properties: {
    roleDefinitionId: circuitRoleId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
