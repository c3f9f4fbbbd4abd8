# The two commands a new user needs: `make run` and `make test`. Both install what is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
AZURITE_VERSION := 3.35.0
AZURITE := .tools/node_modules/.bin/azurite
# extra arguments of `hybridnet up`: make run ARGS='--set HYBRIDNET_DRIFT_MODE=enforce --spec FILE'
ARGS ?=

.PHONY: run test lint format bench setup tools clean

run: setup ## the app on the simulated seed network: Azurite + simulator + local Functions host
	$(BIN)/hybridnet up $(ARGS)

test: setup ## lint, then the whole test suite (it starts Azurite and simulators itself)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest

bench: setup ## benchmarks: print the numbers the issues set targets for
	$(BIN)/python -m bench.drift_bench
	@for b in bench/*_bench.py; do case $$b in bench/drift_bench.py) ;; *) $(BIN)/python -m bench.$$(basename $$b .py) || exit 1;; esac; done

# The health page test renders the page in headless Chromium: installed first when missing and possible,
# else `make test` stops and says what to run (.ci/ensure-chromium).
.PHONY: chromium
test: chromium
chromium:
	@.ci/ensure-chromium

lint: setup
	$(BIN)/ruff check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

setup: $(VENV)/.installed tools

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

tools: $(AZURITE)

$(AZURITE):
	npm install --no-save --no-package-lock --no-audit --no-fund --prefix .tools azurite@$(AZURITE_VERSION)

clean:
	rm -rf .run .pytest_cache .ruff_cache
