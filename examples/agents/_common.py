"""What the agent examples share: which config to use, and starting `mcproute serve` for them.

Not part of the lesson: each example reads top to bottom without this file; it only hides the
subprocess plumbing (start the gateway, learn its port, stop it cleanly so traces are flushed).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from mcp import StdioServerParameters

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OFFLINE = HERE / "offline.yaml"
LIVE = HERE / "live.yaml"
KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        help="servers.yaml to serve (default: live.yaml when a provider key is set, else offline.yaml)",
    )
    p.add_argument(
        "--offline", action="store_true", help="use offline.yaml (scripted models) even when provider keys are set"
    )
    p.add_argument("--data-dir", help="where mcproute keeps state and traces (default: the config's data_dir)")


def config_path(args: argparse.Namespace) -> Path:
    if args.config:
        return Path(args.config).resolve()
    if not args.offline and any(os.environ.get(k) for k in KEYS):
        return LIVE
    return OFFLINE


def server_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    if args.data_dir:
        env["MCPROUTE_DATA_DIR"] = str(Path(args.data_dir).resolve())
    return env


def mcproute_command(*args: str) -> list[str]:
    """`mcproute ...` with the interpreter running this example (works without activating a venv)."""
    return [sys.executable, "-m", "mcproute", *args]


def stdio_server(config: Path, env: dict[str, str]) -> StdioServerParameters:
    cmd = mcproute_command("serve", "--config", str(config))
    return StdioServerParameters(command=cmd[0], args=cmd[1:], env=env, cwd=str(REPO))


@asynccontextmanager
async def http_server(config: Path, env: dict[str, str], *, startup_timeout: float = 60) -> AsyncIterator[str]:
    """Run `mcproute serve --transport http --port 0`; yield its base URL (`http://127.0.0.1:PORT`).

    Stopped with SIGINT (a clean shutdown that flushes the trace file), killed if it lingers."""
    cmd = mcproute_command("serve", "--config", str(config), "--transport", "http", "--port", "0")
    process = await anyio.open_process(
        cmd, env=env, cwd=str(REPO), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert process.stderr is not None
    stderr = process.stderr
    lines: list[str] = []
    try:
        buffer = b""
        url = None
        with anyio.move_on_after(startup_timeout):
            while url is None:
                try:
                    buffer += await stderr.receive()
                except anyio.EndOfStream:
                    break
                *done, buffer = buffer.split(b"\n")
                for line in (d.decode(errors="replace") for d in done):
                    lines.append(line)
                    m = re.search(r"serving (http://\S+)/mcp", line)
                    if m:
                        url = m.group(1)
        if url is None:
            raise RuntimeError("mcproute serve did not start:\n" + "\n".join(lines[-20:]))
        async with anyio.create_task_group() as tg:

            async def drain() -> None:  # keep its stderr flowing (a full pipe would block the server)
                verbose = bool(os.environ.get("MCPROUTE_EXAMPLE_VERBOSE"))
                async for chunk in stderr:
                    if verbose:
                        sys.stderr.write(chunk.decode(errors="replace"))

            tg.start_soon(drain)
            try:
                yield url
            finally:
                tg.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            with anyio.move_on_after(20):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
        await process.aclose()


def short(text: object, limit: int = 110) -> str:
    one = " ".join(str(text).split())
    return one if len(one) <= limit else one[: limit - 1] + "…"
