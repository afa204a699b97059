"""Serve MCP on this process's stdin/stdout without a thread hop per message.

The SDK's `stdio_server()` reads and writes through `anyio.wrap_file`, i.e. a worker thread per
line in each direction; through a proxy that is two extra thread handoffs on every call. When
stdin/stdout are pipes or sockets (always, under an MCP client) we use the event loop's pipe
transports instead, and fall back to the SDK otherwise (a regular file, a tty, a non-asyncio
loop). As the SDK does, fd 1 is pointed at stderr and fd 0 at /dev/null while serving, so a
stray print — ours or a library's — can never corrupt the protocol stream.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager, suppress
from typing import Any

import anyio
import mcp_types as types
from mcp.shared.message import SessionMessage

from mcproute.gateway import limits
from mcproute.gateway._fast_path import StdioFastPath, encode_line
from mcproute.gateway._stdio import Oversize, read_lines
from mcproute.gateway.limits import JsonLimits


def _dump(message: SessionMessage) -> bytes:
    """One outgoing line; a message that cannot be serialised becomes an error for its request
    alone, so the writer task (and with it the connection) never dies of one bad value."""
    try:
        return (message.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n").encode()
    except ValueError as exc:  # pydantic's serialisation errors, lone surrogates
        request_id = getattr(message.message, "id", None)
        logger.warning("could not serialise a message to the client (request %r): %s", request_id, exc)
        if request_id is None:
            return b""
        error = {"code": types.INTERNAL_ERROR, "message": f"mcproute could not serialise its answer: {exc}"}
        return encode_line({"jsonrpc": "2.0", "id": request_id, "error": error})


_READ_LIMIT = 1 << 16  # bytes per read from stdin; lines are bounded by `limits.max_bytes`
logger = logging.getLogger(__name__)


def _is_pipe_or_socket(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


@asynccontextmanager
async def stdio_streams(
    fast_path: StdioFastPath | None = None, bounds: JsonLimits | None = None
) -> AsyncIterator[tuple[Any, Any]]:
    """`fast_path`: lines it claims (plain proxied tools/call) are answered by it, not the SDK.
    `bounds`: every incoming line is checked against them first (depth, size); a line that
    breaks one is answered with a JSON-RPC error naming the limit, and the connection goes on."""
    bounds = bounds or JsonLimits()
    try:
        loop = asyncio.get_running_loop()
        # MCPROUTE_SDK_STDIO=1 forces the SDK's threaded transport (an escape hatch, and the A/B baseline).
        fast = _is_pipe_or_socket(0) and _is_pipe_or_socket(1) and os.environ.get("MCPROUTE_SDK_STDIO") != "1"
    except (RuntimeError, OSError):
        fast = False
    if not fast:
        from mcp.server.stdio import stdio_server

        async with stdio_server() as streams:
            yield streams
        return

    in_fd, out_fd = os.dup(0), os.dup(1)
    saved_in, saved_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    reader = asyncio.StreamReader(limit=_READ_LIMIT)
    read_transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(in_fd, "rb", buffering=0)
    )
    write_transport, write_protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(out_fd, "wb", buffering=0)
    )
    writer = asyncio.StreamWriter(write_transport, write_protocol, None, loop)
    read_send, read_recv = anyio.create_memory_object_stream[SessionMessage | Exception](16)
    write_send, write_recv = anyio.create_memory_object_stream[SessionMessage](16)

    async def chunks() -> AsyncIterator[bytes]:
        with suppress(ConnectionError):
            while chunk := await reader.read(_READ_LIMIT):
                yield chunk

    async def refuse(raw: bytes, code: int, message: str) -> None:
        # Answered here, before anything parses the value: it never reaches the SDK or a downstream.
        logger.warning("refused a request on stdin: %s", message)
        request_id = limits.request_id(raw)
        writer.write(encode_line({"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}))
        await writer.drain()

    async def pump_in() -> None:
        async with read_send, aclosing(read_lines(chunks(), bounds.max_bytes)) as lines:
            async for line in lines:
                if isinstance(line, Oversize):
                    await refuse(line.head, types.INVALID_REQUEST, bounds.size_message(None))
                    continue
                if not line.strip():
                    continue
                problem = bounds.check_bytes(line)
                if problem is not None:
                    await refuse(line, types.INVALID_PARAMS, problem)
                    continue
                if fast_path is not None:
                    claimed = fast_path.observe(line)
                    if claimed is not None:
                        tg.start_soon(answer, claimed)
                        continue
                try:
                    message: SessionMessage | Exception = SessionMessage(
                        types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                    )
                except ValueError as exc:
                    message = exc  # the server answers a parse error; the connection survives
                await read_send.send(message)

    async def answer(request: dict[str, Any]) -> None:
        assert fast_path is not None
        line = await fast_path.answer(request)
        if line is not None:
            # One whole line per write: it cannot interleave with the SDK's responses.
            writer.write(line)
            await writer.drain()

    async def pump_out() -> None:
        async with write_recv:
            async for message in write_recv:
                writer.write(_dump(message))
                await writer.drain()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump_in)
            tg.start_soon(pump_out)
            try:
                yield read_recv, write_send
            finally:
                tg.cancel_scope.cancel()
    finally:
        read_transport.close()
        write_transport.close()
        os.dup2(saved_in, 0)
        os.dup2(saved_out, 1)
        os.close(saved_in)
        os.close(saved_out)
