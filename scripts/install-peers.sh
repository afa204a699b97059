#!/usr/bin/env bash
# Installs the real Node MCP peers used by the interop tests into .peers/ (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .peers
if [ ! -f .peers/.installed ] || [ scripts/install-peers.sh -nt .peers/.installed ]; then
  npm install --prefix .peers --no-audit --no-fund --loglevel=error \
    @modelcontextprotocol/server-everything \
    @modelcontextprotocol/server-memory \
    @modelcontextprotocol/inspector
  touch .peers/.installed
fi
