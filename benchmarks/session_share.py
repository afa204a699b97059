"""What serving a handshake-era session on another replica costs.

    .venv/bin/python benchmarks/session_share.py [--sessions 100] [--calls 20] [--store sqlite|redis]

Two `mcproute serve --transport http` processes share one state store (SQLite file, or a
redis-server on loopback started here with `--store redis`), each with benchmarks/echo_server.py
over stdio. For each of `--sessions` sessions, opened on A with the raw streamable-HTTP handshake:

- `on_opener`: a `tools/call` on A (the replica holding the session: what one replica always did);
- `first_elsewhere`: the session's first `tools/call` on B (a store read and the revival, then the call);
- `elsewhere`: further calls on B (B now holds its own copy).

Calls alternate between the kinds per session so load hits all alike. Prints one JSON object with
p50/p99 per kind in milliseconds, and the revival's added p50 (`first_elsewhere - elsewhere`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from benchlib import ECHO, child_env, free_port, loadavg, stop, summary_ms, wait_http

HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
VERSION = "2025-06-18"


def config(tmp: Path, store: dict[str, Any]) -> Path:
    cfg = {
        "data_dir": str(tmp / "data"),
        "servers": {"echo": {"command": sys.executable, "args": [ECHO]}},
        "routing": {"encoder": {"enabled": False}},
        "state": store,
    }
    path = tmp / "servers.yaml"
    path.write_text(json.dumps(cfg))
    return path


def start(path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "mcproute", "serve", "--config", str(path), "--transport", "http", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env())
    wait_http(port, 60, proc)
    url = f"http://127.0.0.1:{port}/mcp"
    for _ in range(600):  # listening comes before the downstream is up: wait for its tool
        r = httpx.post(url, json=rpc("tools/list", {}, 1), headers=HEADERS | {"mcp-protocol-version": "2026-07-28"})
        if "echo__echo" in r.text:
            break
        time.sleep(0.05)
    return proc, url


def rpc(method: str, params: dict[str, Any] | None, id: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params or {}}
    if id is not None:
        body["id"] = id
    return body


def open_session(c: httpx.Client, url: str) -> str:
    init = {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}
    r = c.post(url, json=rpc("initialize", init, 0), headers=HEADERS)
    r.raise_for_status()
    sid = r.headers["mcp-session-id"]
    c.post(url, json=rpc("notifications/initialized", None, None), headers=session(sid)).raise_for_status()
    return sid


def session(sid: str) -> dict[str, str]:
    return HEADERS | {"mcp-session-id": sid, "mcp-protocol-version": VERSION}


def timed_call(c: httpx.Client, url: str, sid: str, i: int) -> float:
    t0 = time.perf_counter()
    r = c.post(url, json=rpc("tools/call", {"name": "echo__echo", "arguments": {"text": "x"}}, i), headers=session(sid))
    took = time.perf_counter() - t0
    assert r.status_code == 200 and '"x"' in r.text, (r.status_code, r.text[:300])
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--calls", type=int, default=20, help="calls per session on each replica after the first")
    ap.add_argument("--store", choices=["sqlite", "redis"], default="sqlite")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mcproute-session-share-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        store: dict[str, Any] = {"backend": "sqlite", "path": str(tmp / "state.sqlite3")}
        if args.store == "redis":
            port = free_port()
            redis = shutil.which("redis-server") or "/usr/bin/redis-server"
            procs.append(
                subprocess.Popen(
                    [redis, "--port", str(port), "--save", "", "--dir", str(tmp)], stdout=subprocess.DEVNULL
                )
            )
            wait_http(port, 15)
            store = {"backend": "redis", "url": f"redis://127.0.0.1:{port}/0"}
        urls = []
        for name in ("a", "b"):
            (tmp / name).mkdir()
            proc, url = start(config(tmp / name, store))
            procs.append(proc)
            urls.append(url)
        a, b = urls
        kinds: dict[str, list[float]] = {"on_opener": [], "first_elsewhere": [], "elsewhere": []}
        # One connection per replica, kept alive: the HTTP cost is the same for every kind.
        with httpx.Client(timeout=30) as ca, httpx.Client(timeout=30) as cb:
            for _ in range(args.sessions):
                sid = open_session(ca, a)
                timed_call(ca, a, sid, 1)  # warm this session on its opener
                kinds["first_elsewhere"].append(timed_call(cb, b, sid, 2))
                for i in range(args.calls):
                    kinds["on_opener"].append(timed_call(ca, a, sid, 10 + i))
                    kinds["elsewhere"].append(timed_call(cb, b, sid, 100 + i))
                ca.delete(a, headers=session(sid))  # sessions end, as clients' do (A allows 100 per address)
        out: dict[str, Any] = {k: summary_ms(v) for k, v in kinds.items()}
        out["revival_added_p50_ms"] = round(out["first_elsewhere"]["p50_ms"] - out["elsewhere"]["p50_ms"], 3)
        out["elsewhere_vs_opener_p50_ms"] = round(out["elsewhere"]["p50_ms"] - out["on_opener"]["p50_ms"], 3)
        out["store"] = args.store
        out["load_average"] = loadavg()
        print(json.dumps(out, indent=2))
    finally:
        stop(procs)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
