// The ExpressRoute circuit's resource group: the circuit-join role for the app identity, on the circuit only.
targetScope = 'resourceGroup'

param circuitName string
param principalId string
param circuitRoleId string

resource circuit 'Microsoft.Network/expressRouteCircuits@2024-05-01' existing = {
  name: circuitName
}

resource circuitJoin 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(circuit.id, principalId, circuitRoleId)
  scope: circuit
  properties: {
    roleDefinitionId: circuitRoleId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
