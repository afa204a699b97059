"""`mcproute serve --transport http` as a child process, for tests that need a real gateway process.

One helper instead of a copy per test module: start it, wait for its "serving <url>" line, keep
reading its stderr (a full pipe would block the gateway), and stop it with SIGINT, so the batched
spans are written out, killing and reaping it if it does not stop in time.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from anyio.abc import Process

from runtime_support import child_env

_SERVING = re.compile(rb"serving (http://\S+/mcp)")


@asynccontextmanager
async def serve_http(
    config: Path, *, port: int = 0, log: list[bytes] | None = None, env: dict[str, str] | None = None
) -> AsyncIterator[tuple[Process, str]]:
    """Yield (process, the /mcp URL). Its stderr (at INFO, `-v`) is appended to `log` as it comes."""
    sink = log if log is not None else []
    cmd = [sys.executable, "-m", "mcproute", "serve", "--config", str(config), "--transport", "http"]
    cmd += ["--port", str(port), "-v"]
    proc = await anyio.open_process(
        cmd, env=child_env(PYTHONWARNINGS="ignore", **(env or {})), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    try:
        async with anyio.create_task_group() as tg:
            seen = b""
            with anyio.fail_after(60):
                while not (m := _SERVING.search(seen)):
                    try:
                        seen += await proc.stderr.receive()
                    except anyio.EndOfStream:
                        raise AssertionError(f"mcproute serve exited early: {seen.decode(errors='replace')}") from None
            sink.append(seen)

            async def drain() -> None:
                async for chunk in proc.stderr:  # type: ignore[union-attr]
                    sink.append(chunk)

            tg.start_soon(drain)
            yield proc, m.group(1).decode()
            tg.cancel_scope.cancel()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)  # a clean stop: the batched spans are written out
        with anyio.move_on_after(15):
            await proc.wait()
        await proc.aclose()  # kills it if it is still running, and reaps it either way
