# azd preprovision hook (azure.yaml) for Windows: the same checks as preprovision.sh.
$ErrorActionPreference = 'Stop'
$spec = $env:HYBRIDNET_SPEC_FILE
if (-not $spec) {
  # The spec the app will run: HYBRIDNET_SPEC_PATH of infra/main.parameters.json (network.yaml).
  try {
    $spec = (Get-Content 'infra/main.parameters.json' -Raw | ConvertFrom-Json).parameters.hybridnetSettings.value.HYBRIDNET_SPEC_PATH
  } catch { $spec = $null }
  if (-not $spec) { $spec = 'network.yaml' }
}
$sites = if ($env:HYBRIDNET_SITES_FILE) { $env:HYBRIDNET_SITES_FILE } else { 'infra/sites.json' }
$py = if ($env:HYBRIDNET_PYTHON) { $env:HYBRIDNET_PYTHON } elseif (Test-Path '.venv/Scripts/python.exe') { '.venv/Scripts/python.exe' } else { 'python' }

function Fail([string]$message) {
  Write-Error "preprovision: $message`npreprovision: nothing was deployed." -ErrorAction Continue
  exit 1
}

if (-not (Test-Path $spec)) {
  Fail "$spec not found: the app deploys with its spec (HYBRIDNET_SPEC_PATH=$spec in infra/main.parameters.json). Create it (copy examples/seed-network.yaml to $spec, edit it), then run: $py -m shared.cli infra-sites $spec"
}
& $py -c 'import shared.cli' 2>$null
if ($LASTEXITCODE -ne 0) { Fail "cannot run $py -m shared.cli (install requirements first, or set HYBRIDNET_PYTHON)" }
& $py -m shared.cli validate $spec
if ($LASTEXITCODE -ne 0) { Fail "$spec is not valid (errors above): fix it before deploying" }
& $py -m shared.cli infra-sites $spec --out $sites --check
if ($LASTEXITCODE -ne 0) { Fail "$sites does not match $spec (differences above)" }

$vault = azd env get-value AZURE_KEY_VAULT_NAME 2>$null
$mode = 'default'
if ($LASTEXITCODE -eq 0 -and $vault -and (Get-Command az -ErrorAction SilentlyContinue)) {
  az keyvault show-deleted --name $vault --query name -o tsv 2>$null | Out-Null
  if ($LASTEXITCODE -eq 0) {
    $mode = 'recover'
    Write-Host "preprovision: Key Vault $vault is soft-deleted (azd down): it will be recovered with its keys"
  }
}
azd env set KEY_VAULT_CREATE_MODE $mode | Out-Null
if ($LASTEXITCODE -ne 0) { Fail 'could not set KEY_VAULT_CREATE_MODE in the azd environment' }
Write-Host "preprovision: $spec valid, $sites agrees, Key Vault create mode: $mode"
