// Optional metric alerts whose action group calls the app's POST /api/alerts (function key, common alert
// schema). An alert only makes the app check the site at once: the app reads the connections from ARM and
// records what it finds, so a noisy alert costs one check, never a wrong record.
targetScope = 'resourceGroup'

param sites array
param functionAppName string
param tags object

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource toApp 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-hybridnet-alerts'
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'hybridnet'
    enabled: true
    webhookReceivers: [
      {
        name: 'hybridnet-alerts'
        serviceUri: 'https://${functionApp.properties.defaultHostName}/api/alerts?code=${listKeys('${functionApp.id}/host/default', '2024-04-01').functionKeys.default}'
        useCommonAlertSchema: true
      }
    ]
  }
}

// ExpressRoute: BGP availability of the circuit below 90 % over 5 minutes (a peering's session dropped).
resource bgp 'Microsoft.Insights/metricAlerts@2018-03-01' = [
  for s in sites: {
    name: 'hybridnet-${s.name}-er-bgp-availability'
    location: 'global'
    tags: tags
    properties: {
      description: 'ExpressRoute BGP availability dropped for site ${s.name} (circuit of ${s.expressRoute.connectionName}): traffic to ${join(s.onPremises.addressSpace, ', ')} may be failing over to the VPN.'
      severity: 1
      enabled: true
      scopes: [s.expressRoute.circuitId]
      evaluationFrequency: 'PT1M'
      windowSize: 'PT5M'
      criteria: {
        'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
        allOf: [
          {
            criterionType: 'StaticThresholdCriterion'
            name: 'BgpAvailability'
            metricNamespace: 'Microsoft.Network/expressRouteCircuits'
            metricName: 'BgpAvailability'
            operator: 'LessThan'
            threshold: 90
            timeAggregation: 'Average'
          }
        ]
      }
      actions: [{ actionGroupId: toApp.id }]
    }
  }
]

// VPN: the site's tunnel carried no traffic at all for 15 minutes (down, or idle: the app's check tells).
resource tunnel 'Microsoft.Insights/metricAlerts@2018-03-01' = [
  for s in sites: {
    name: 'hybridnet-${s.name}-vpn-tunnel-bandwidth'
    location: 'global'
    tags: tags
    properties: {
      description: 'VPN tunnel ${s.vpn.connectionName} of site ${s.name} (${s.vnet.name} to appliance ${s.onPremises.applianceIp}) carried no traffic for 15 minutes: the failover path may be down.'
      severity: 2
      enabled: true
      scopes: [
        resourceId(s.resourceGroup, 'Microsoft.Network/virtualNetworkGateways', s.vpn.gatewayName)
      ]
      evaluationFrequency: 'PT5M'
      windowSize: 'PT15M'
      criteria: {
        'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
        allOf: [
          {
            criterionType: 'StaticThresholdCriterion'
            name: 'TunnelAverageBandwidth'
            metricNamespace: 'Microsoft.Network/virtualNetworkGateways'
            metricName: 'TunnelAverageBandwidth'
            dimensions: [{ name: 'ConnectionName', operator: 'Include', values: [s.vpn.connectionName] }]
            operator: 'LessThanOrEqual'
            threshold: 0
            timeAggregation: 'Average'
          }
        ]
      }
      actions: [{ actionGroupId: toApp.id }]
    }
  }
]
