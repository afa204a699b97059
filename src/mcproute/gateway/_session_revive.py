"""The one place that reaches into the MCP SDK's streamable-HTTP session manager (private API).

Why: the SDK can open a handshake-era session only by answering `initialize` in this process;
it has no way to adopt a session another process opened. To serve such a session here
(gateway/session_share.py), this module does what the manager's `_serve_opening_request` does,
minus the handshake: it builds the session's transport under the same id and settings, registers
it in the manager's live-session table, and runs the handshake-era server loop in the manager's
task group on a `Connection` that is already initialized with the client's stored params.

It relies on, from `mcp` 2.3: `StreamableHTTPSessionManager._server_instances`, `._task_group`,
`._lifespan_state`, `._discard_session()`, its public settings (`json_response`, `event_store`,
`security_settings`, `retry_interval`, `session_idle_timeout`), `StreamableHTTPServerTransport`
(`connect()`, `idle_scope`), `Connection.for_loop(..., protocol_version_hint=)` and
`runner.serve_connection`. `check_sdk()` verifies all of them when the app is built, so an SDK
upgrade that moves them fails at start with a message naming what moved, not on the first
request of someone else's session; tests/test_session_share.py runs it and a real revival.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from typing import Any

import anyio
import anyio.abc
from mcp.server.connection import Connection
from mcp.server.runner import serve_connection
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from mcp.shared.transport_context import TransportContext
from mcp_types import InitializeRequestParams

logger = logging.getLogger(__name__)

_MANAGER_ATTRS = ("_server_instances", "_task_group", "_lifespan_state", "_discard_session", "_serve_opening_request")
_SETTINGS = ("json_response", "event_store", "security_settings", "retry_interval", "session_idle_timeout")


def check_sdk(manager: StreamableHTTPSessionManager) -> None:
    """Raise RuntimeError naming what is missing if the SDK internals this module uses moved."""
    missing = [a for a in _MANAGER_ATTRS + _SETTINGS if not hasattr(manager, a)]
    if not isinstance(getattr(manager, "_server_instances", None), dict):
        missing.append("_server_instances (a dict)")
    if "protocol_version_hint" not in inspect.signature(Connection.for_loop).parameters:
        missing.append("Connection.for_loop(protocol_version_hint=)")
    if not hasattr(StreamableHTTPServerTransport, "connect"):
        missing.append("StreamableHTTPServerTransport.connect")
    if missing:
        raise RuntimeError(
            "mcproute cannot share handshake-era sessions across replicas with this MCP SDK: "
            f"{', '.join(missing)} changed (gateway/_session_revive.py needs updating)"
        )


def live_sessions(manager: StreamableHTTPSessionManager) -> dict[str, StreamableHTTPServerTransport]:
    """The manager's table of sessions this process holds (read-only use, please)."""
    table: dict[str, StreamableHTTPServerTransport] = manager._server_instances  # noqa: SLF001
    return table


async def end_session(manager: StreamableHTTPSessionManager, session_id: str) -> None:
    """Forget and terminate this process's copy (the session ended on another replica)."""
    transport = live_sessions(manager).get(session_id)
    if transport is not None:
        await manager._discard_session(session_id, transport)  # noqa: SLF001


async def revive(
    manager: StreamableHTTPSessionManager,
    session_id: str,
    protocol_version: str,
    client_params: Mapping[str, Any],
) -> Connection:
    """Serve `session_id` in this process from now on, as if its `initialize` had been answered
    here; returns the session's connection (for the log level and subscriptions to be restored
    on). The caller makes sure the session is not already live here."""
    params = InitializeRequestParams.model_validate(
        {k: v for k, v in client_params.items() if k != "_meta"}, by_name=False
    )
    transport = StreamableHTTPServerTransport(
        mcp_session_id=session_id,
        is_json_response_enabled=manager.json_response,
        event_store=manager.event_store,
        security_settings=manager.security_settings,
        retry_interval=manager.retry_interval,
        idle_timeout=manager.session_idle_timeout,
    )
    group: anyio.abc.TaskGroup | None = manager._task_group  # noqa: SLF001
    if group is None:
        raise RuntimeError("the MCP session manager is not running")
    lifespan_state = manager._lifespan_state  # noqa: SLF001

    async def run(*, task_status: anyio.abc.TaskStatus[Connection] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            async with transport.connect() as (read_stream, write_stream):
                dispatcher: JSONRPCDispatcher[TransportContext] = JSONRPCDispatcher(
                    read_stream, write_stream, inline_methods=frozenset({"initialize"})
                )
                connection = Connection.for_loop(
                    dispatcher, session_id=session_id, protocol_version_hint=protocol_version
                )
                connection.client_params = params  # what `initialize` recorded where it was answered
                connection.protocol_version = protocol_version
                connection.initialized.set()  # the client sent notifications/initialized there
                task_status.started(connection)
                # The SDK's own idle timeout for this process's copy (the record's is the store's).
                idle_scope = transport.idle_scope if transport.idle_scope is not None else anyio.CancelScope()
                with idle_scope:
                    await serve_connection(
                        manager.app, dispatcher, connection=connection, lifespan_state=lifespan_state
                    )
        except Exception:
            logger.exception("revived session %s crashed", session_id[:8])
        finally:
            await manager._discard_session(session_id, transport)  # noqa: SLF001

    live_sessions(manager)[session_id] = transport
    try:
        connection: Connection = await group.start(run)
    except BaseException:
        live_sessions(manager).pop(session_id, None)
        raise
    return connection
