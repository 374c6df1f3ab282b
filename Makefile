# AutoRenew Guard — developer entry points. Every target sets up what it needs first.
#   make demo    scan a bundled sample estate (fake Azure + Azurite), no Azure account needed
#   make test    lint, type-check and run the whole test suite
#   make bench   the benchmark of docs/BENCHMARKS.md
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
CHECKOV_STAMP := .venv-checkov/.installed

.PHONY: setup demo test lint unit bench chromium clean

# Set-up says what it does on stderr, so `make demo ARGS='--format json'` prints only JSON on stdout even
# on a fresh machine.
$(PY_STAMP): requirements.txt requirements-dev.txt
	@echo "Setting up $(VENV) (Python packages)..." >&2
	@$(PYTHON) -m venv $(VENV) >&2
	@$(PY) -m pip install --quiet --upgrade pip >&2
	@$(PY) -m pip install --quiet -r requirements-dev.txt >&2
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	@echo "Installing the npm tools (Azurite, the card renderer, the KQL language service)..." >&2
	@npm ci --no-audit --no-fund --loglevel=error >&2
	@touch $@

$(CHECKOV_STAMP): requirements-checkov.txt
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --upgrade pip
	.venv-checkov/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

setup: $(PY_STAMP) $(NODE_STAMP) $(CHECKOV_STAMP)

# Headless Chromium renders the HTML report in the browser tests (Debian package `chromium`).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "The browser tests need Chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

# Silent (@): with ARGS='--format json' stdout carries the scan document and nothing else (the demo's own
# words go to stderr), so `make demo ARGS='--format json' | jq` works.
demo: $(PY_STAMP) $(NODE_STAMP)
	@$(PY) -m tests.fakeazure.demo $(ARGS)

lint: $(PY_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

unit: $(PY_STAMP) $(NODE_STAMP)
	$(PY) -m pytest -m "not browser" $(ARGS)

test: setup chromium lint
	$(PY) -m pytest $(ARGS)

bench: $(PY_STAMP) $(NODE_STAMP)
	$(PY) -m bench.scan_bench $(ARGS)

clean:
	rm -rf $(VENV) .venv-checkov node_modules .pytest_cache .mypy_cache .ruff_cache artifacts .demo
