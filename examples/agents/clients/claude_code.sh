# Claude Code: register mcproute (run from the root of the mcproute checkout).
# stdio: Claude Code starts the gateway itself; --scope project writes .mcp.json for everyone on the repo.
claude mcp add --scope project mcproute -- .venv/bin/mcproute serve --config examples/agents/offline.yaml
# streamable HTTP: start `mcproute serve --config examples/agents/offline.yaml --transport http` first.
claude mcp add --transport http mcproute-http http://127.0.0.1:8765/mcp
