# azd postdeploy hook (azure.yaml) for Windows: the same steps as postdeploy.sh.
$ErrorActionPreference = 'Stop'
function Fail([string]$message) { Write-Error "postdeploy: $message" -ErrorAction Continue; exit 1 }

if ((azd env get-value WIRE_EVENT_GRID 2>$null) -eq 'true') { exit 0 }
$rg = azd env get-value AZURE_RESOURCE_GROUP 2>$null
$app = azd env get-value AZURE_FUNCTION_APP_NAME 2>$null
if (-not $rg -or -not $app) { Fail "AZURE_RESOURCE_GROUP / AZURE_FUNCTION_APP_NAME are not in the azd environment: run 'azd provision' first" }
if (-not (Get-Command az -ErrorAction SilentlyContinue)) { Fail 'the Azure CLI (az) is needed to wait for the functions to be indexed' }

$attempts = if ($env:HYBRIDNET_WAIT_ATTEMPTS) { [int]$env:HYBRIDNET_WAIT_ATTEMPTS } else { 40 }
$pause = if ($env:HYBRIDNET_WAIT_SECONDS) { [int]$env:HYBRIDNET_WAIT_SECONDS } else { 15 }
for ($i = 1; ; $i++) {
  az functionapp function show --resource-group $rg --name $app --function-name arm_event --query name -o tsv 2>$null | Out-Null
  if ($LASTEXITCODE -eq 0) { break }
  if ($i -ge $attempts) {
    Fail "$app still lists no arm_event function after $attempts checks, $pause s apart: the Event Grid subscriptions were NOT created. Check the deployment ('az functionapp function list -g $rg -n $app', the app's logs in Application Insights), then wire them with: azd env set WIRE_EVENT_GRID true; azd provision"
  }
  Write-Host "postdeploy: waiting for $app to list arm_event ($i/$attempts)"
  Start-Sleep -Seconds $pause
}
Write-Host "postdeploy: $app lists arm_event: provisioning the Event Grid wiring"
azd env set WIRE_EVENT_GRID true
if ($LASTEXITCODE -ne 0) { Fail 'could not set WIRE_EVENT_GRID' }
azd provision --no-prompt
if ($LASTEXITCODE -ne 0) { Fail "azd provision (Event Grid wiring) failed; fix the error above and run 'azd provision'" }
