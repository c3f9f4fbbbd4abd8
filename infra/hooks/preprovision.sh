#!/bin/sh
# azd preprovision hook (azure.yaml), run from the project root before every `azd provision` / `azd up`.
# Refuses to go on, saying why, when the spec the app will run is missing or invalid, or when
# infra/sites.json (the sites the templates deploy roles and Event Grid wiring for) disagrees with it.
# Then picks the Key Vault create mode: 'recover' when `azd down` left this environment's vault
# soft-deleted (purge protection keeps it, and the escrowed IPsec keys, for 90 days).
#
# Overrides (tests, unusual layouts): HYBRIDNET_PYTHON, HYBRIDNET_SPEC_FILE, HYBRIDNET_SITES_FILE.
set -u

SITES="${HYBRIDNET_SITES_FILE:-infra/sites.json}"
PY="${HYBRIDNET_PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
# The spec the app will run: HYBRIDNET_SPEC_PATH of infra/main.parameters.json (network.yaml).
SPEC="${HYBRIDNET_SPEC_FILE:-$("$PY" -c '
import json
try:
    with open("infra/main.parameters.json") as f:
        print(json.load(f)["parameters"]["hybridnetSettings"]["value"].get("HYBRIDNET_SPEC_PATH") or "network.yaml")
except (OSError, ValueError, KeyError):
    print("network.yaml")
' 2>/dev/null || echo network.yaml)}"

fail() {
  echo "preprovision: $1" >&2
  echo "preprovision: nothing was deployed." >&2
  exit 1
}

[ -f "$SPEC" ] || fail "$SPEC not found: the app deploys with its spec (HYBRIDNET_SPEC_PATH=$SPEC in infra/main.parameters.json). \
Create it (cp examples/seed-network.yaml $SPEC, edit it), then run: $PY -m shared.cli infra-sites $SPEC"
"$PY" -c "import shared.cli" 2>/dev/null || fail "cannot run $PY -m shared.cli (run 'make setup' first, or set HYBRIDNET_PYTHON)"
"$PY" -m shared.cli validate "$SPEC" || fail "$SPEC is not valid (errors above): fix it before deploying"
"$PY" -m shared.cli infra-sites "$SPEC" --out "$SITES" --check || fail "$SITES does not match $SPEC (differences above)"

# Key Vault: recover a soft-deleted vault of this environment instead of failing on its name.
VAULT="$(azd env get-value AZURE_KEY_VAULT_NAME 2>/dev/null || true)"
MODE=default
if [ -n "$VAULT" ] && command -v az >/dev/null 2>&1; then
  if az keyvault show-deleted --name "$VAULT" --query name -o tsv >/dev/null 2>&1; then
    MODE=recover
    echo "preprovision: Key Vault $VAULT is soft-deleted (azd down): it will be recovered with its keys"
  fi
fi
azd env set KEY_VAULT_CREATE_MODE "$MODE" >/dev/null || fail "could not set KEY_VAULT_CREATE_MODE in the azd environment"
echo "preprovision: $SPEC valid, $SITES agrees, Key Vault create mode: $MODE"
