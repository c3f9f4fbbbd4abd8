// One site's resource group: the custom network role for the app identity, and the Event Grid system
// topic of the resource group with a subscription to the app's Event Grid trigger (arm_event).
targetScope = 'resourceGroup'

param siteName string
@description('Object (principal) id of the app\'s user-assigned identity.')
param principalId string
@description('Client (application) id of the same identity: the `appid` claim of its ARM calls.')
param clientId string
param networkRoleId string
param wireEventGrid bool
param functionAppId string
param includedEventTypes array
param eventGridIdentityId string
param deadLetterStorageId string
param deadLetterContainer string

resource networkRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, networkRoleId)
  properties: {
    roleDefinitionId: networkRoleId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// A resource group has at most one system topic: if one exists already, add the subscription to it instead.
resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = if (wireEventGrid) {
  name: 'hybridnet-${siteName}-arm'
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

resource toApp 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (wireEventGrid) {
  parent: topic
  name: 'hybridnet-arm-event'
  properties: {
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
      // Loop prevention at the source (the app checks again). Advanced filter keys cannot address a key
      // containing dots, so the objectidentifier claim (a URI) is out of reach: `appid` carries the
      // identity's client id on every ARM event; the role evidence carries its principal id when present.
      advancedFilters: [
        {
          operatorType: 'StringNotIn'
          key: 'data.claims.appid'
          values: [clientId]
        }
        {
          operatorType: 'StringNotIn'
          key: 'data.authorization.evidence.principalId'
          values: [principalId]
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
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
}
