"""Regenerate tests/data/catalogs/reference_servers.json: the tools the official MCP reference servers
list today, as one plain catalogue (the evaldata format: `[{name, description, input_schema, server}]`).

Each server is started for real (PyPI packages from the venv, npm packages from .peers/) and asked for
its tools with the official SDK client; names are namespaced as the gateway namespaces them
(`server__tool`). Nothing here is written by hand, so the catalogue cannot drift from what the servers
say. Run from the repository root:

    PYTHONPATH=$PWD/src .venv/bin/python scripts/dump_reference_catalog.py
    (options: --modules DIR  another node_modules; --out FILE)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "data" / "catalogs" / "reference_servers.json"
SEPARATOR = "__"  # the gateway's default `naming.separator`
TIMEOUT_S = 60.0  # first start of a Node server on a loaded 2-core box


def servers(modules: Path, scratch: Path) -> dict[str, StdioServerParameters]:
    """Launch parameters per server name. Python servers run on this interpreter; Node servers on the
    pinned Node 22 from .peers (the system Node may be older). Scratch paths keep the servers from
    touching anything real (memory writes its graph file only on a write, which we never make)."""
    node = str(modules / ".bin" / "node")
    mcp_dir = modules / "@modelcontextprotocol"
    py = sys.executable
    return {
        "time": StdioServerParameters(command=py, args=["-m", "mcp_server_time", "--local-timezone", "UTC"]),
        "git": StdioServerParameters(command=py, args=["-m", "mcp_server_git", "--repository", str(REPO)]),
        "fetch": StdioServerParameters(command=py, args=["-m", "mcp_server_fetch"]),
        "memory": StdioServerParameters(
            command=node,
            args=[str(mcp_dir / "server-memory" / "dist" / "index.js")],
            env={"MEMORY_FILE_PATH": str(scratch / "memory.jsonl")},
        ),
        "filesystem": StdioServerParameters(
            command=node, args=[str(mcp_dir / "server-filesystem" / "dist" / "index.js"), str(scratch)]
        ),
    }


async def list_server(name: str, params: StdioServerParameters) -> list[dict[str, Any]]:
    with anyio.fail_after(TIMEOUT_S):
        async with Client(params, mode="auto") as client:
            tools = (await client.list_tools()).tools
    return [
        {
            "name": f"{name}{SEPARATOR}{t.name}",
            "description": t.description or "",
            "input_schema": t.input_schema,
            "server": name,
        }
        for t in tools
    ]


async def dump(modules: Path) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="mcproute-refcat-") as tmp:
        catalogue: list[dict[str, Any]] = []
        for name, params in servers(modules, Path(tmp)).items():  # one at a time: errors name the server
            try:
                catalogue.extend(await list_server(name, params))
            except Exception as exc:
                raise SystemExit(
                    f"dump_reference_catalog: server {name!r} ({params.command} {' '.join(params.args)}) failed: {exc!r}"
                ) from exc
    return catalogue


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--modules", type=Path, default=REPO / ".peers" / "node_modules", help="node_modules holding the npm servers"
    )
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    for rel in ("server-memory", "server-filesystem"):
        if not (args.modules / "@modelcontextprotocol" / rel / "dist" / "index.js").exists():
            raise SystemExit(
                f"dump_reference_catalog: @modelcontextprotocol/{rel} is not in {args.modules}; run scripts/install-peers.sh"
            )
    catalogue = anyio.run(dump, args.modules)
    names = [t["name"] for t in catalogue]
    if len(names) != len(set(names)):
        raise SystemExit("dump_reference_catalog: duplicate tool names after namespacing")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(catalogue, indent=1, ensure_ascii=False) + "\n")
    per = {s: sum(t["server"] == s for t in catalogue) for s in dict.fromkeys(t["server"] for t in catalogue)}
    print(f"wrote {len(catalogue)} tools to {args.out}: {per}")


if __name__ == "__main__":
    main()
