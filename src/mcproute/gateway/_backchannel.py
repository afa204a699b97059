"""Server→client traffic from a downstream, sent back to the upstream client that caused it.

A handshake-era downstream sends sampling / elicitation / roots requests and log messages over
its connection; we forward them on the upstream request that is in flight to that server.
What cannot work, and the error the downstream (and so the user) sees:

- no upstream request in flight (a programmatic `Gateway.call_tool`): nobody to ask;
- the upstream client speaks 2026-07-28: the SDK's modern server forbids server-initiated
  requests (they travel as `InputRequiredResult` instead, which a handshake-era downstream
  cannot produce mid-call), so the combination "handshake-era downstream → 2026-07-28 client"
  is refused by name.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp.client.session import ClientRequestContext
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.shared.message import ServerMessageMetadata

if TYPE_CHECKING:
    from mcproute.gateway.downstream import Downstream


def _refusal(ds: Downstream, what: str) -> types.ErrorData | None:
    route = ds.route_for_backchannel()
    if route is None or route.ctx is None:
        return types.ErrorData(
            code=types.INVALID_REQUEST,
            message=f"mcproute: no upstream client request is in flight to forward {what} from server {ds.name!r} to",
        )
    if route.modern or not route.can_send_request:
        return types.ErrorData(
            code=types.INVALID_REQUEST,
            message=(
                f"mcproute: cannot forward {what} from server {ds.name!r} (handshake era, "
                f"{ds.health.protocol_version}) to a {route.protocol_version} client: that client's "
                "connection cannot carry server-initiated requests"
            ),
        )
    return None


async def _forward(ds: Downstream, request: Any, result_type: Any) -> Any:
    route = ds.route_for_backchannel()
    assert route is not None and route.ctx is not None
    ctx = route.ctx
    try:
        return await ctx.session.send_request(
            request, result_type, metadata=ServerMessageMetadata(related_request_id=ctx.request_id)
        )
    except MCPError as exc:
        return exc.error


def sampling(ds: Downstream) -> Any:
    async def callback(context: ClientRequestContext, params: types.CreateMessageRequestParams) -> Any:
        if (err := _refusal(ds, "sampling/createMessage")) is not None:
            return err
        return await _forward(ds, types.CreateMessageRequest(params=params), types.CreateMessageResult)

    return callback


def elicitation(ds: Downstream) -> Any:
    async def callback(context: ClientRequestContext, params: types.ElicitRequestParams) -> Any:
        if (err := _refusal(ds, "elicitation/create")) is not None:
            return err
        return await _forward(ds, types.ElicitRequest(params=params), types.ElicitResult)

    return callback


def roots(ds: Downstream) -> Any:
    async def callback(context: ClientRequestContext) -> Any:
        if (err := _refusal(ds, "roots/list")) is not None:
            return err
        return await _forward(ds, types.ListRootsRequest(), types.ListRootsResult)

    return callback


def logging(ds: Downstream) -> Any:
    async def callback(params: types.LoggingMessageNotificationParams) -> None:
        route = ds.route_for_backchannel()
        if route is None or route.ctx is None:
            return
        if ds.log_filter is not None and not ds.log_filter(route, params.level):
            return  # below the level this handshake-era client set (the filter is ours to apply)
        ctx = route.ctx
        # The session applies the era's gate (2026-07-28: only if this request opted in).
        try:
            # The SDK flags logging as deprecated by 2026-07-28; forwarding it is our job here.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await ctx.session.send_log_message(
                    params.level, params.data, logger=params.logger or ds.name, related_request_id=ctx.request_id
                )
        except Exception:  # a client that went away must not break the downstream's connection
            pass

    return callback
