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
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
from mcp.shared.message import SessionMessage

from mcproute.gateway._fast_path import StdioFastPath

_LINE_LIMIT = 64 * 1024 * 1024


def _is_pipe_or_socket(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


@asynccontextmanager
async def stdio_streams(fast_path: StdioFastPath | None = None) -> AsyncIterator[tuple[Any, Any]]:
    """`fast_path`: lines it claims (plain proxied tools/call) are answered by it, not the SDK."""
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
    reader = asyncio.StreamReader(limit=_LINE_LIMIT)
    read_transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(in_fd, "rb", buffering=0))
    write_transport, write_protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, os.fdopen(out_fd, "wb", buffering=0))
    writer = asyncio.StreamWriter(write_transport, write_protocol, None, loop)
    read_send, read_recv = anyio.create_memory_object_stream[SessionMessage | Exception](16)
    write_send, write_recv = anyio.create_memory_object_stream[SessionMessage](16)

    async def pump_in() -> None:
        async with read_send:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, ConnectionError):  # a line over the limit, or the pipe broke
                    break
                if not line:
                    break
                if not line.strip():
                    continue
                if fast_path is not None:
                    claimed = fast_path.observe(line)
                    if claimed is not None:
                        tg.start_soon(answer, claimed)
                        continue
                try:
                    message: SessionMessage | Exception = SessionMessage(types.jsonrpc_message_adapter.validate_json(line, by_name=False))
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
                writer.write((message.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n").encode())
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
