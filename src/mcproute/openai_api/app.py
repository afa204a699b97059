"""`POST /v1/chat/completions`, `POST /v1/responses` (responses.py) and `GET /v1/models`, as
Starlette routes over an `Engine`; every other path under `/v1` answers in OpenAI's error shape.

    routes = openai_routes(engine)                      # mount next to /mcp:
    await serve_http(engine.gateway, http, extra_routes=routes)

Every request is checked completely *before* the engine sees it (model name, messages, tool
results, size), so a refused request never touches the conversation's state. Then one routed
model call (`Engine.complete`): `model: "auto"` lets the router choose, a tier name forces the
tier, a configured model name asks for that model; the decision comes back in `x-mcproute-*`
headers and is traced by the engine.
"""

from __future__ import annotations

import logging
import time
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mcproute.access import Authenticator, AuthFailed, authenticator
from mcproute.errors import (
    InvalidConversationId,
    InvalidRequest,
    McprouteError,
    ProviderRequestRejected,
    ProviderUnavailable,
    StateError,
    StreamInterrupted,
    UpstreamUnavailable,
)
from mcproute.gateway.limits import JsonLimits
from mcproute.openai_api.identity import conversation_identity
from mcproute.openai_api.live import LiveCompletion, chat_writer
from mcproute.openai_api.wire import (
    AUTO,
    TIERS,
    ApiError,
    ChatCompletionRequest,
    completion_body,
    model_list,
    new_completion_id,
    parse_request,
)
from mcproute.providers import ChatResult, Message
from mcproute.router.step import Decision, StepHints
from mcproute.runtime.access import client_policy
from mcproute.runtime.messages import to_messages
from mcproute.runtime.streaming import stream_complete

if TYPE_CHECKING:
    from mcproute.gateway.identity import ConversationIdentity
    from mcproute.runtime import Engine

logger = logging.getLogger(__name__)

HEADER_CHARS = 512  # a reason longer than this is cut in the header (the trace has it whole)


_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def openai_routes(engine: Engine, *, prefix: str = "/v1") -> list[BaseRoute]:
    """The endpoint's routes; the bearer token and size limit come from `gateway.http`."""
    from mcproute.openai_api.responses import create_response

    api = OpenAIEndpoint(engine)
    served = {f"{prefix}/chat/completions": "POST", f"{prefix}/responses": "POST", f"{prefix}/models": "GET"}

    async def responses(request: Request) -> Response:
        return await create_response(api, request)

    async def unknown(request: Request) -> Response:
        # Last in the list: Starlette tries it only when no route above matched path *and* method,
        # so a plain-text 404/405 never reaches an OpenAI client (it could not parse one).
        path, method = request.url.path, request.method
        if path in served:
            return error_response(
                ApiError(405, f"{method} is not allowed on {path}; use {served[path]}", code="method_not_allowed"),
                {"allow": served[path]},
            )
        offered = ", ".join(f"{m} {p}" for p, m in served.items())
        return error_response(
            ApiError(
                404, f"Invalid URL ({method} {header_text(path, 200)}); mcproute serves {offered}", code="unknown_url"
            )
        )

    return [
        Route(f"{prefix}/chat/completions", api.chat_completions, methods=["POST"]),
        Route(f"{prefix}/responses", responses, methods=["POST"]),
        Route(f"{prefix}/models", api.models, methods=["GET"]),
        Route(prefix, unknown, methods=_ANY_METHOD),
        Route(f"{prefix}/{{path:path}}", unknown, methods=_ANY_METHOD),
    ]


def error_response(err: ApiError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    extra = dict(headers or {})
    if err.status == 401:
        extra["www-authenticate"] = "Bearer"
    return JSONResponse(err.body(), status_code=err.status, headers=extra)


def header_text(value: object, limit: int = HEADER_CHARS) -> str:
    """HTTP header values are latin-1 without control characters: fold to readable ASCII."""
    text = str(value).replace("→", "->").replace("…", "...").replace("—", "-").replace("–", "-")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class OpenAIEndpoint:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        http = engine.config.gateway.http
        self._auth: Authenticator | None = None
        self.max_bytes = http.max_request_bytes
        self.bounds = JsonLimits.from_config(engine.config.gateway)

    # ------------------------------------------------------------ edge checks

    async def check_token(self, request: Request) -> None:
        # The HTTP guard checks it first when the routes are served by `serve_http`; checked here
        # too so the routes stay safe when mounted in another app. The gateway's authenticator is
        # shared when there is one (one JWKS cache, one fetch budget).
        access = self.engine.gateway.access
        auth = access.auth if access is not None else self._auth
        if auth is None:
            auth = self._auth = authenticator(self.engine.config)
        try:
            await auth.principal(request.headers.get("authorization"))
        except AuthFailed as exc:
            raise ApiError(
                exc.status,
                f"{exc.description} (send 'Authorization: Bearer <your client key, OAuth token or gateway.http.token>')",
                code="invalid_api_key" if exc.status == 401 else "insufficient_scope",
            ) from None

    async def read_body(self, request: Request) -> bytes:
        """Read at most `max_request_bytes` (a chunked body has no Content-Length for the guard)."""
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise _too_large(int(declared), self.max_bytes)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_bytes:
                raise _too_large(None, self.max_bytes)
        return bytes(body)

    def visible_models(self, headers: Mapping[str, str] | None) -> tuple[tuple[str, ...], dict[str, Any]]:
        """The tiers and configured models this request's client may use (a hidden one is unknown to it)."""
        policy = client_policy(self.engine, headers)[1]
        models = {
            n: m
            for n, m in self.engine.config.models.items()
            if policy.client is None or policy.allows_model(n, m.tier)
        }
        return tuple(t for t in TIERS if policy.client is None or t in policy.tiers), models

    def hints_for(self, model: str, headers: Mapping[str, str] | None = None) -> StepHints | None:
        tiers, models = self.visible_models(headers)
        if model == AUTO:
            return None
        if model in tiers:
            return StepHints(tier_override=model)  # type: ignore[arg-type]
        if model in models:
            return StepHints(model_override=model)
        known = ", ".join([AUTO, *tiers, *models])
        raise ApiError(
            404,
            f"The model {model!r} does not exist; use one of: {known} (GET /v1/models)",
            param="model",
            code="model_not_found",
        )

    @staticmethod
    def check_messages(messages: list[dict[str, Any]], *, param: str = "messages") -> list[Message]:
        """Chat messages (from either endpoint) to provider messages, refused with `param` named."""
        if not messages:
            raise ApiError(400, f"'{param}' must contain at least one message", param=param, code="invalid_value")
        try:
            msgs = to_messages(messages)
        except InvalidRequest as exc:
            raise ApiError(400, str(exc), param=_param_of(str(exc)), code="invalid_value") from None
        asked: set[str] = set()
        for i, m in enumerate(msgs):
            if m.role == "assistant":
                asked.update(c.id for c in m.tool_calls)
            elif m.role == "tool":
                if not m.tool_call_id:
                    raise ApiError(
                        400,
                        f"messages[{i}] is a tool result without a 'tool_call_id'",
                        param=f"messages[{i}].tool_call_id",
                        code="missing_required_parameter",
                    )
                if m.tool_call_id not in asked:
                    raise ApiError(
                        400,
                        f"messages[{i}] is a tool result for tool_call_id {m.tool_call_id!r}, but no earlier "
                        "assistant message made a tool call with that id",
                        param=f"messages[{i}].tool_call_id",
                        code="unknown_tool_call_id",
                    )
        if not any(m.role in ("user", "tool") and m.content.strip() for m in msgs):
            raise ApiError(
                400, f"'{param}' has no user or tool message with text to answer", param=param, code="invalid_value"
            )
        return msgs

    @staticmethod
    def _options(req: ChatCompletionRequest) -> dict[str, Any]:
        if req.n not in (None, 1):
            raise ApiError(
                400, f"'n' must be 1 (mcproute returns one choice), got {req.n}", param="n", code="unsupported_value"
            )
        tools: Any = req.tools
        if req.tool_choice == "none":
            tools = None  # the client forbade tool calls: offer none
        return {
            "tools": tools or None,
            "max_tokens": req.max_completion_tokens or req.max_tokens or 1024,
            "temperature": req.temperature,
        }

    # ------------------------------------------------------------ handlers

    async def models(self, request: Request) -> Response:
        try:
            await self.check_token(request)
        except ApiError as err:
            return error_response(err)
        tiers, models = self.visible_models(request.headers)
        listing = model_list(models)
        listing["data"] = [row for row in listing["data"] if row["mcproute"]["kind"] != "tier" or row["id"] in tiers]
        return JSONResponse(listing)

    async def answer(self, work: Callable[[], Awaitable[Response]], what: str) -> Response:
        """Run a handler's work; every failure answers in OpenAI's error shape."""
        try:
            return await work()
        except ApiError as err:
            return error_response(err)
        except McprouteError as exc:
            return error_response(_map_error(exc))
        except Exception as exc:  # a bug must still answer in OpenAI's shape, and never take the server down
            logger.exception("%s failed", what)
            return error_response(
                ApiError(500, f"internal error: {type(exc).__name__}", type="server_error", code="internal_error")
            )

    async def chat_completions(self, request: Request) -> Response:
        return await self.answer(lambda: self._chat_completions(request), "chat completion")

    async def _chat_completions(self, request: Request) -> Response:
        await self.check_token(request)
        req = parse_request(await self.read_body(request), self.bounds)
        hints = self.hints_for(req.model, request.headers)
        msgs = self.check_messages(req.messages)
        options = self._options(req)
        headers = dict(request.headers)
        identity = self.identity_for(headers, msgs, req.user)
        if req.stream:
            # The step runs inside the response, passing deltas on as the provider sends them (live.py).
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            events = stream_complete(self.engine, msgs, identity=identity, hints=hints, headers=headers, **options)
            return LiveCompletion(events, identity, chat_writer(include_usage))
        decision, chat = await self.engine.complete(msgs, identity=identity, hints=hints, headers=headers, **options)
        completion_id = new_completion_id()
        created = int(time.time())
        out_headers = decision_headers(decision, chat, identity)
        return JSONResponse(completion_body(chat, decision, completion_id, created), headers=out_headers)

    def identity_for(self, headers: Mapping[str, str], msgs: list[Message], user: str | None) -> ConversationIdentity:
        try:
            return conversation_identity(self.engine, headers, msgs, user)
        except InvalidConversationId as exc:
            raise ApiError(400, str(exc), param="X-Conversation-Id", code="invalid_conversation_id") from None


def decision_headers(decision: Decision, chat: ChatResult, identity: ConversationIdentity) -> dict[str, str]:
    """The decision, readable by any client that can see response headers (`with_raw_response`)."""
    return step_headers(decision, chat.model, chat.tier, chat.deployment, identity, cached=chat.cached)


def step_headers(
    decision: Decision,
    model: str,
    tier: str,
    deployment: str,
    identity: ConversationIdentity,
    *,
    cached: str = "",
) -> dict[str, str]:
    headers = {
        "x-mcproute-model": model,
        "x-mcproute-tier": tier,
        "x-mcproute-reason": header_text(decision.reason),
        "x-mcproute-conversation-id": decision.conversation_id,
        "x-mcproute-conversation-source": str(identity.source),
        "x-mcproute-step-id": decision.step_id,
        "x-mcproute-sticky": ("held: " if decision.sticky_held else "broke: ")
        + header_text(decision.sticky_reason, 256),
        "x-mcproute-deployment": deployment,
    }
    if decision.tool:
        headers["x-mcproute-tool"] = decision.tool
    if cached:  # the reply was replayed from the reply cache: no provider was called (docs/cache.md)
        headers["x-mcproute-cache"] = f"hit; kind={cached}"
    return {k: header_text(v) for k, v in headers.items() if v}


def _too_large(declared: int | None, limit: int) -> ApiError:
    size = f"{declared} bytes" if declared is not None else "more bytes"
    return ApiError(
        413,
        f"request body of {size} exceeds the limit of {limit} (gateway.http.max_request_bytes)",
        code="request_too_large",
    )


def _param_of(message: str) -> str | None:
    # runtime.messages names the place first ("messages[2].role must be ..."); hand it back as `param`.
    head = message.split(" ", 1)[0]
    return head if head.startswith("messages") else "messages"


def _map_error(exc: McprouteError) -> ApiError:
    """Our error tree to OpenAI's shapes; a backend outage is never reported as the client's fault."""
    if isinstance(exc, ProviderRequestRejected):
        status = exc.status if exc.status in (400, 413, 422) else 400
        return ApiError(status, f"the model provider rejected the request: {exc}", code="provider_rejected")
    if isinstance(exc, InvalidRequest):
        return ApiError(400, str(exc), param=_param_of(str(exc)) if str(exc).startswith("messages") else None)
    if isinstance(exc, StreamInterrupted):
        return ApiError(
            502,
            f"the model provider failed in the middle of its reply: {exc}",
            type="server_error",
            code="stream_interrupted",
        )
    if isinstance(exc, ProviderUnavailable):
        return ApiError(503, f"no model could answer: {exc}", type="server_error", code="model_unavailable")
    if isinstance(exc, UpstreamUnavailable):
        return ApiError(503, str(exc), type="server_error", code="upstream_unavailable")
    if isinstance(exc, StateError):
        return ApiError(503, f"the conversation store failed: {exc}", type="server_error", code="state_unavailable")
    logger.warning("chat completion failed: %s", exc)
    return ApiError(500, f"{type(exc).__name__}: {exc}", type="server_error", code="internal_error")
