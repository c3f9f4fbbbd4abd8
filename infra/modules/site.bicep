// One resource group holding sites: the custom network role for the app identity, and Event Grid wiring
// from the group's system topic to the app's Event Grid trigger (arm_event). Deployed once per resource
// group (infra/sites.json lists them without duplicates), never once per site: a resource group has at most
// one system topic, and one role assignment per principal and role.
targetScope = 'resourceGroup'

@description('Object (principal) id of the app\'s user-assigned identity.')
param principalId string
@description('Client (application) id of the same identity: the `appid` claim of its ARM calls.')
param clientId string
param networkRoleId string
param wireEventGrid bool
param functionAppId string
param includedEventTypes array
@description('The advanced filter (operatorType, key) that drops the app\'s own events: infra/app-contract.json appEventFilter; its value is clientId.')
param appEventFilter object
param eventGridIdentityId string
param deadLetterStorageId string
param deadLetterContainer string
@description('Name of a system topic that already exists in this resource group for it (one per group at most): the subscription is added to it, the topic itself is left as it is. Empty: hybridnet creates its own.')
param existingTopicName string = ''

var ownTopic = empty(existingTopicName)
var topicName = ownTopic ? 'hybridnet-arm-events' : existingTopicName

resource networkRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, networkRoleId)
  properties: {
    roleDefinitionId: networkRoleId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = if (wireEventGrid && ownTopic) {
  name: topicName
  location: 'global'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${eventGridIdentityId}': {} }
  }
  properties: {
    source: resourceGroup().id
    topicType: 'Microsoft.Resources.ResourceGroups'
  }
}

// Dead-lettering writes with the Event Grid identity, which only hybridnet's own topic carries; a topic that
// someone else owns is not modified, so its subscription has no dead-letter destination (the reconcile timer
// catches up on anything lost).
var ownDeadLetter = {
  deadLetterWithResourceIdentity: {
    identity: {
      type: 'UserAssigned'
      userAssignedIdentity: eventGridIdentityId
    }
    deadLetterDestination: {
      endpointType: 'StorageBlob'
      properties: {
        resourceId: deadLetterStorageId
        blobContainerName: deadLetterContainer
      }
    }
  }
}
var deadLetter = ownTopic ? ownDeadLetter : {}

resource toApp 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (wireEventGrid) {
  name: '${topicName}/hybridnet-arm-event'
  properties: union(
    {
      eventDeliverySchema: 'EventGridSchema'
      destination: {
        endpointType: 'AzureFunction'
        properties: {
          resourceId: '${functionAppId}/functions/arm_event'
          maxEventsPerBatch: 1
          preferredBatchSizeInKilobytes: 64
        }
      }
      filter: {
        includedEventTypes: includedEventTypes
        subjectBeginsWith: '${resourceGroup().id}/providers/Microsoft.Network/'
        isSubjectCaseSensitive: false
        // Loop prevention at the source: `appid` carries the identity's client id on every ARM event. The
        // objectidentifier claim (a URI key with dots) cannot be addressed by a filter key, and the role
        // evidence's principalId is left out: Microsoft's ResourceWriteSuccess example has no such field,
        // so a StringNotIn on it would drop nothing there while adding a three-level key whose behaviour on
        // a missing field cannot be verified offline. The app re-checks both claims (shared/drift/events.py,
        // HYBRIDNET_APP_PRINCIPAL_IDS), so nothing depends on this filter being complete.
        advancedFilters: [
          {
            operatorType: appEventFilter.operatorType
            key: appEventFilter.key
            values: [clientId]
          }
        ]
      }
      retryPolicy: {
        maxDeliveryAttempts: 30
        eventTimeToLiveInMinutes: 1440
      }
    },
    deadLetter
  )
  dependsOn: [topic]
}

output topicName string = topicName
