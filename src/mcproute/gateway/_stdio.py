"""A stdio transport that exposes its child process.

The SDK's `stdio_client` hides the process, but the gateway needs three things it cannot give:
the pid (health output, and the `kill -9` test), the tail of the child's stderr (so "failed to
start" can say *why*), and fail-fast on death: when the child dies we close the read stream at
once, even if a grandchild still holds stdout open, so every in-flight request fails with
CONNECTION_CLOSED instead of waiting for its timeout.

It also enforces `gateway.max_json_depth` / `max_message_bytes` on both directions (issue 14):
an answer nested too deep fails its own call at once; a stdout line over the size cap fails its
call and ends the child (the supervisor restarts it) instead of being absorbed; a request that
cannot be serialised fails alone instead of killing the writer.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import sys
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Mapping
from contextlib import aclosing, suppress
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.client.stdio import DEFAULT_INHERITED_ENV_VARS
from mcp.shared.message import SessionMessage

from mcproute.gateway import limits
from mcproute.gateway.limits import JsonLimits
from mcproute.telemetry.repeats import RepeatFilter

if TYPE_CHECKING:
    from mcproute.config import ServerConfig

logger = logging.getLogger(__name__)
# A downstream writing junk on stdout is logged once a minute (with a count), not once per line:
# a flooding child must not fill the gateway's log or disk.
junk_log = logging.getLogger(__name__ + ".junk")
junk_log.addFilter(RepeatFilter(60.0))

_STDERR_TAIL = 20
# After the child is up, a stderr line is quoted as the cause of its exit only if written this
# close to it: a crash's last words come right before the end; a banner from an hour ago
# ("... running on stdio") says nothing about a `kill -9`.
_FRESH = 3.0
_STDERR_LINE = 64 * 1024  # a stderr line longer than this is kept as its head only
_HEAD = 4096  # bytes of an over-size line kept, to find its request id
LIMIT_ERROR_KEY = "mcproute/refused"  # in `error.data` of an error the transport made up for a request
# Shutdown, per the MCP stdio sequence: close stdin, wait; SIGTERM, wait; SIGKILL. A Python
# server needs ~0.5 s here to exit on EOF (interpreter teardown), so 1 s is enough for the
# well-behaved and keeps `mcproute serve` quick to stop when one is not.
_GRACE = 1.0
_TERM_GRACE = 0.5


def resolve_command(command: str) -> str:
    """`python`/`python3` mean the interpreter mcproute runs on, so its installed servers are found."""
    return sys.executable if command in ("python", "python3") else command


def child_env(cfg: ServerConfig, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """A stdio child's whole environment: the SDK's safe default set (HOME, LOGNAME, PATH, SHELL,
    TERM, USER on POSIX), the names the server opted into with `inherit_env`, then its `env:`.

    Why not `os.environ`: the gateway's environment holds every provider key and `${VAR}` secret,
    and a downstream server is third-party code (issue 14, item 1). A name in `inherit_env` that
    is not set is absent, not empty.
    """
    source = os.environ if environ is None else environ
    env: dict[str, str] = {}
    for name in (*DEFAULT_INHERITED_ENV_VARS, *cfg.inherit_env):
        value = source.get(name)
        # As the SDK: a value starting with "()" is an exported shell function, never passed on.
        if value is not None and not value.startswith("()"):
            env[name] = value
    bindir = os.path.dirname(sys.executable)
    env["PATH"] = bindir + os.pathsep + env["PATH"] if env.get("PATH") else bindir
    env.update(cfg.env)
    return env


class StdioProcess:
    """`async with StdioProcess(cmd, args, env, cwd) as (read, write)` — an SDK `Transport`."""

    def __init__(
        self,
        command: str,
        args: list[str],
        env: Mapping[str, str],
        cwd: str | None = None,
        *,
        limits: JsonLimits | None = None,
        scrub: Callable[[str], str] = str,
    ) -> None:
        self.command = command
        # Applied when the tail is read (not per line: a child flooding stderr costs no regex work),
        # and before truncating, so a cut never leaves half a secret.
        self._scrub = scrub
        self.limits = limits or JsonLimits()
        # Set when we end the child on purpose (an over-size message): the reason health shows.
        self.failure: str | None = None
        self.args = list(args)
        self.env = dict(env)
        self.cwd = cwd
        self.process: anyio.abc.Process | None = None
        self.stderr_tail: collections.deque[tuple[float, str]] = collections.deque(
            maxlen=_STDERR_TAIL
        )  # (monotonic, line)
        self.ready_at: float | None = None  # when the supervisor found the child up (see mark_ready)
        self.exited_at: float | None = None
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

    def mark_ready(self) -> None:
        """The child answered its listing: from now on its stderr so far is start-up chatter, not
        the cause of a later exit."""
        self.ready_at = anyio.current_time()

    def last_words(self) -> str | None:
        """The stderr line that explains the current failure, if one does: while starting, the
        last line written; once up, only a line written after that and just before the exit."""
        lines = [(t, line) for t, line in self.stderr_tail if line.strip()]
        if self.ready_at is not None:
            end = self.exited_at if self.exited_at is not None else anyio.current_time()
            lines = [(t, line) for t, line in lines if t >= self.ready_at and end - t <= _FRESH]
        return lines[-1][1].strip() if lines else None

    def describe_exit(self) -> str:
        code = self.returncode
        if code is None:
            what = "closed its stdout"
        elif code < 0:
            what = f"was killed by signal {signal.Signals(-code).name}"
        else:
            what = f"exited with code {code}"
        if self.failure is not None:
            what = self.failure
        words = self.last_words()
        return f"process {self.pid} {what}" + (f"; stderr: {self._scrub(words)[:300]}" if words else "")

    async def __aenter__(
        self,
    ) -> tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]:
        # Shielded: a cancellation that lands while asyncio is still wiring up the pipes makes it
        # kill the fresh child and then await its exit, and anyio cancels that await too, so the
        # child was never reaped ("subprocess N is still running"). Spawning is quick; a
        # cancellation is seen at the next checkpoint, after `__aexit__` can own the child.
        with anyio.CancelScope(shield=True):
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
        try:
            async with send, aclosing(read_lines(self.process.stdout, self.limits.max_bytes)) as lines:
                async for line in lines:
                    if isinstance(line, Oversize):
                        await self._oversize(send, line)
                        return
                    if line.strip():
                        await send.send(self._parse(line))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError):
            pass

    def _parse(self, line: bytes) -> SessionMessage | Exception:
        problem = self.limits.check_bytes(line)
        if problem is None:
            try:
                return SessionMessage(types.jsonrpc_message_adapter.validate_json(line, by_name=False))
            except ValueError as exc:
                problem, error = None, exc
        else:
            error = ValueError(problem)
        request_id = limits.request_id(line)
        if request_id is not None:
            # An answer we will not pass on: fail its call now (not at its timeout), keep the server.
            reason = problem or f"a response that is not valid JSON-RPC ({str(error).splitlines()[0][:200]})"
            logger.warning("%s: refused its answer to request %r: %s", self.command, request_id, reason)
            return _error_for(request_id, types.INTERNAL_ERROR, f"the server answered with {reason}", "limit")
        # Garbage on stdout: surface it (the session logs it) but keep the pipe.
        junk_log.warning("%s: non-JSON-RPC line on stdout: %.200r", self.command, line)
        self.last_junk = line.decode(errors="replace")
        return error

    async def _oversize(self, send: MemoryObjectSendStream[SessionMessage | Exception], line: Oversize) -> None:
        """A message over the cap is not absorbed: fail its call, then restart the server (a
        stream cut mid-message cannot be resynchronised)."""
        self.failure = f"wrote a stdout message over {self.limits.max_bytes} bytes (gateway.max_message_bytes); stopped"
        logger.warning("%s: %s", self.command, self.failure)
        request_id = limits.request_id(line.head)
        if request_id is not None:
            with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                await send.send(
                    _error_for(
                        request_id,
                        types.INTERNAL_ERROR,
                        f"the server answered with a message over "
                        f"{self.limits.max_bytes} bytes (gateway.max_message_bytes)",
                        "limit",
                    )
                )
        assert self.process is not None and self._tg is not None
        _signal_group(self.process.pid, signal.SIGTERM)
        self._tg.start_soon(self._kill_after, _TERM_GRACE)

    async def _kill_after(self, delay: float) -> None:
        await anyio.sleep(delay)
        if self.process is not None and self.process.returncode is None:
            _signal_group(self.process.pid, signal.SIGKILL)

    async def _writer(self, recv: MemoryObjectReceiveStream[SessionMessage]) -> None:
        assert self.process and self.process.stdin
        try:
            async with recv:
                async for message in recv:
                    try:
                        data = (message.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n").encode()
                    except ValueError as exc:  # incl. pydantic's serialisation errors and lone surrogates
                        # One message that cannot be written must never end the transport (issue 14, item 2).
                        await self._refuse(message, f"it cannot be serialised: {exc}")
                        continue
                    if len(data) > self.limits.max_bytes:
                        await self._refuse(message, self.limits.size_message(len(data)))
                        continue
                    await self.process.stdin.send(data)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            self._close_read()

    async def _refuse(self, message: SessionMessage, reason: str) -> None:
        """Fail just this request, as if the server had refused it."""
        msg = message.message
        logger.warning("%s: not sending %s: %s", self.command, getattr(msg, "method", type(msg).__name__), reason)
        if isinstance(msg, types.JSONRPCRequest) and self._read_send is not None:
            with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                await self._read_send.send(
                    _error_for(
                        msg.id, types.INVALID_PARAMS, f"mcproute did not send {msg.method}: {reason}", "unsendable"
                    )
                )

    async def _stderr_reader(self) -> None:
        assert self.process and self.process.stderr
        try:
            await self._read_stderr()
        finally:
            self.stderr_done.set()

    async def _read_stderr(self) -> None:
        assert self.process and self.process.stderr
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError):
            async for line in read_lines(self.process.stderr, _STDERR_LINE):
                # An endless stderr line is kept as its head only: the tail is for reading, not storage.
                text = (line.head + b" [...]" if isinstance(line, Oversize) else line).decode(errors="replace")
                self.stderr_tail.append((anyio.current_time(), text))
                logger.debug("%s stderr: %s", self.command, text)

    async def _watch_exit(self) -> None:
        assert self.process
        await self.process.wait()
        self.exited_at = anyio.current_time()
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

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
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


@dataclass(frozen=True, slots=True)
class Oversize:
    """A line longer than the cap: its first bytes (for the id and the log); the rest is skipped."""

    head: bytes


async def read_lines(stream: AsyncIterable[bytes], max_bytes: int) -> AsyncGenerator[bytes | Oversize, None]:
    """Newline-delimited lines in linear time: each byte is searched and copied once (the old
    reader re-split one growing buffer on every chunk, quadratic in a long line). A line over
    `max_bytes` is not kept: one `Oversize` with its head, then it is skipped up to its newline."""
    buffer = bytearray()
    skipping = False
    async for chunk in stream:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                if not skipping:
                    buffer += chunk[start:]
                    if len(buffer) > max_bytes:
                        yield Oversize(bytes(buffer[:_HEAD]))
                        buffer.clear()
                        skipping = True
                break
            if skipping:
                skipping = False
            else:
                buffer += chunk[start:end]
                if len(buffer) > max_bytes:
                    yield Oversize(bytes(buffer[:_HEAD]))
                else:
                    yield bytes(buffer)
                buffer.clear()
            start = end + 1
    if buffer and not skipping:
        yield bytes(buffer)


def _error_for(request_id: Any, code: int, message: str, kind: str) -> SessionMessage:
    """A JSON-RPC error for `request_id`, made here; `data` marks it as ours, not the server's."""
    error = types.ErrorData(code=code, message=message, data={LIMIT_ERROR_KEY: kind})
    return SessionMessage(types.JSONRPCError(jsonrpc="2.0", id=request_id, error=error))


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
