"""A stdio transport that exposes its child process.

The SDK's `stdio_client` hides the process, but the gateway needs three things it cannot give:
the pid (health output, and the `kill -9` test), the tail of the child's stderr (so "failed to
start" can say *why*), and fail-fast on death: when the child dies we close the read stream at
once, even if a grandchild still holds stdout open, so every in-flight request fails with
CONNECTION_CLOSED instead of waiting for its timeout.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
from collections.abc import Mapping
from contextlib import suppress
from types import TracebackType

import anyio
import anyio.abc
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage

logger = logging.getLogger(__name__)

_STDERR_TAIL = 20
# Shutdown, per the MCP stdio sequence: close stdin, wait; SIGTERM, wait; SIGKILL. A Python
# server needs ~0.5 s here to exit on EOF (interpreter teardown), so 1 s is enough for the
# well-behaved and keeps `mcproute serve` quick to stop when one is not.
_GRACE = 1.0
_TERM_GRACE = 0.5


class StdioProcess:
    """`async with StdioProcess(cmd, args, env, cwd) as (read, write)` — an SDK `Transport`."""

    def __init__(self, command: str, args: list[str], env: Mapping[str, str], cwd: str | None = None) -> None:
        self.command = command
        self.args = list(args)
        self.env = dict(env)
        self.cwd = cwd
        self.process: anyio.abc.Process | None = None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL)
        self.exited = anyio.Event()
        self.last_junk: str | None = None  # the last stdout line that was not JSON-RPC
        self.stderr_done = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None
        self._read_send: MemoryObjectSendStream[SessionMessage | Exception] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def returncode(self) -> int | None:
        return self.process.returncode if self.process else None

    def describe_exit(self) -> str:
        code = self.returncode
        if code is None:
            what = "closed its stdout"
        elif code < 0:
            what = f"was killed by signal {signal.Signals(-code).name}"
        else:
            what = f"exited with code {code}"
        tail = [line for line in self.stderr_tail if line.strip()]
        return f"process {self.pid} {what}" + (f"; stderr: {tail[-1].strip()[:300]}" if tail else "")

    async def __aenter__(self) -> tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]:
        self.process = await anyio.open_process(
            [self.command, *self.args], env=self.env, cwd=self.cwd, start_new_session=True
        )
        read_send, read_recv = anyio.create_memory_object_stream[SessionMessage | Exception](16)
        write_send, write_recv = anyio.create_memory_object_stream[SessionMessage](16)
        self._read_send = read_send
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._reader, read_send)
        self._tg.start_soon(self._writer, write_recv)
        self._tg.start_soon(self._stderr_reader)
        self._tg.start_soon(self._watch_exit)
        self._streams = (read_recv, write_send)
        return read_recv, write_send

    async def _reader(self, send: MemoryObjectSendStream[SessionMessage | Exception]) -> None:
        assert self.process and self.process.stdout
        buffer = b""
        try:
            async with send:
                async for chunk in self.process.stdout:
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if not line.strip():
                            continue
                        try:
                            msg: SessionMessage | Exception = SessionMessage(
                                types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                            )
                        except ValueError as exc:
                            # Garbage on stdout: surface it (the session logs it) but keep the pipe.
                            logger.warning("%s: non-JSON-RPC line on stdout: %.200r", self.command, line)
                            self.last_junk = line.decode(errors="replace")
                            msg = exc
                        await send.send(msg)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError):
            pass

    async def _writer(self, recv: MemoryObjectReceiveStream[SessionMessage]) -> None:
        assert self.process and self.process.stdin
        try:
            async with recv:
                async for message in recv:
                    data = message.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
                    await self.process.stdin.send(data.encode())
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            self._close_read()

    async def _stderr_reader(self) -> None:
        assert self.process and self.process.stderr
        try:
            await self._read_stderr()
        finally:
            self.stderr_done.set()

    async def _read_stderr(self) -> None:
        assert self.process and self.process.stderr
        buffer = b""
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError):
            async for chunk in self.process.stderr:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    text = line.decode(errors="replace")
                    self.stderr_tail.append(text)
                    logger.debug("%s stderr: %s", self.command, text)
        if buffer:
            self.stderr_tail.append(buffer.decode(errors="replace"))

    async def _watch_exit(self) -> None:
        assert self.process
        await self.process.wait()
        self.exited.set()
        # The child is gone: fail in-flight requests now rather than when stdout reaches EOF.
        self._close_read()

    def _close_read(self) -> None:
        if self._read_send is not None:
            self._read_send.close()

    async def settle(self, limit: float = 1.0) -> None:
        """Wait (bounded) until a dying child has exited and its stderr is read, so the reason is complete."""
        with anyio.move_on_after(limit):
            await self.exited.wait()
            await self.stderr_done.wait()

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        assert self._tg is not None and self.process is not None
        # Shielded and bounded: the child must be reaped even when we are being cancelled.
        with anyio.CancelScope(shield=True):
            read_recv, write_send = self._streams
            write_send.close()
            if self.process.stdin:
                with suppress(Exception):
                    await self.process.stdin.aclose()
            # Wait on the process itself, not on `exited`: when the gateway shuts down, the
            # cancellation also reaches our own `_watch_exit` task, so `exited` would never be
            # set and every stop would sit out the whole grace period (was ~4 s per gateway).
            with anyio.move_on_after(_GRACE):
                await self.process.wait()
            if self.process.returncode is None:
                # Ignored stdin EOF: SIGTERM (the MCP stdio shutdown sequence), then SIGKILL.
                _signal_group(self.process.pid, signal.SIGTERM)
                with anyio.move_on_after(_TERM_GRACE):
                    await self.process.wait()
            # SIGKILL the whole group: the leader if it is still there, and any stragglers.
            _signal_group(self.process.pid, signal.SIGKILL)
            with anyio.move_on_after(_TERM_GRACE):
                await self.process.wait()
            if self.process.returncode is not None:
                self.exited.set()
            read_recv.close()
        # Outside the shield: the task group was entered before it, so it must exit after it.
        self._tg.cancel_scope.cancel()
        await self._tg.__aexit__(None, None, None)
        with anyio.CancelScope(shield=True), suppress(Exception):
            await self.process.aclose()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
