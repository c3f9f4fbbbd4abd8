#!/bin/sh
# azd postdeploy hook (azure.yaml). The Event Grid subscriptions (and the optional alerts) point at
# functions that exist only once the code runs: after the first deploy, wait until the Flex Consumption app
# lists arm_event (Event Grid validates an AzureFunction endpoint against that list), then provision once
# more with the wiring on. Bounded: HYBRIDNET_WAIT_ATTEMPTS x HYBRIDNET_WAIT_SECONDS (default 40 x 15 s).
set -u

fail() {
  echo "postdeploy: $1" >&2
  exit 1
}

[ "$(azd env get-value WIRE_EVENT_GRID 2>/dev/null || true)" = "true" ] && exit 0

RG="$(azd env get-value AZURE_RESOURCE_GROUP 2>/dev/null || true)"
APP="$(azd env get-value AZURE_FUNCTION_APP_NAME 2>/dev/null || true)"
[ -n "$RG" ] && [ -n "$APP" ] || fail "AZURE_RESOURCE_GROUP / AZURE_FUNCTION_APP_NAME are not in the azd environment: run 'azd provision' first"
command -v az >/dev/null 2>&1 || fail "the Azure CLI (az) is needed to wait for the functions to be indexed"

ATTEMPTS="${HYBRIDNET_WAIT_ATTEMPTS:-40}"
PAUSE="${HYBRIDNET_WAIT_SECONDS:-15}"
i=1
while :; do
  if az functionapp function show --resource-group "$RG" --name "$APP" --function-name arm_event \
    --query name -o tsv >/dev/null 2>&1; then
    break
  fi
  if [ "$i" -ge "$ATTEMPTS" ]; then
    fail "$APP still lists no arm_event function after $ATTEMPTS checks, $PAUSE s apart: the Event Grid \
subscriptions were NOT created. Check the deployment ('az functionapp function list -g $RG -n $APP', the \
app's logs in Application Insights), then wire them with: azd env set WIRE_EVENT_GRID true && azd provision"
  fi
  echo "postdeploy: waiting for $APP to list arm_event ($i/$ATTEMPTS)"
  i=$((i + 1))
  sleep "$PAUSE"
done

echo "postdeploy: $APP lists arm_event: provisioning the Event Grid wiring"
azd env set WIRE_EVENT_GRID true || fail "could not set WIRE_EVENT_GRID"
azd provision --no-prompt || fail "azd provision (Event Grid wiring) failed; fix the error above and run 'azd provision'"
