"""`POST /v1/responses`: OpenAI's Responses API, the subset agent SDKs use by default (the
openai-agents SDK's default model, `OpenAIResponsesModel`, calls nothing else).

One request is one routed step, exactly as on `/v1/chat/completions` and through the same edge
checks (token, size, JSON depth, model name, tool-call ids), so `model: auto|reasoning|fast|<name>`
means the same thing on both, the decision travels in the same `x-mcproute-*` headers, and a
refused request never touches the conversation's state. The wire translation lives in
responses_wire.py; this module only orders the steps.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mcproute.openai_api.app import decision_headers
from mcproute.openai_api.live import LiveCompletion
from mcproute.openai_api.responses_live import ResponseWriter
from mcproute.openai_api.responses_wire import (
    chat_messages,
    chat_tools,
    new_id,
    output_items,
    response_object,
    validate_request,
)
from mcproute.openai_api.wire import load_object
from mcproute.runtime.streaming import stream_complete

if TYPE_CHECKING:
    from mcproute.openai_api.app import OpenAIEndpoint


async def create_response(api: OpenAIEndpoint, request: Request) -> Response:
    async def work() -> Response:
        await api.check_token(request)
        req = validate_request(load_object(await api.read_body(request), api.bounds))
        hints = api.hints_for(req.model, request.headers)
        msgs = api.check_messages(chat_messages(req), param="input")
        tools = chat_tools(req)
        headers = dict(request.headers)
        identity = api.identity_for(headers, msgs, req.user)
        response_id, created = new_id("resp"), int(time.time())
        if req.stream:
            # As on chat completions, the step runs inside the response and each provider delta is
            # passed on as it arrives (live.py, responses_live.py).
            events = stream_complete(
                api.engine,
                msgs,
                identity=identity,
                hints=hints,
                headers=headers,
                tools=tools,
                max_tokens=req.max_output_tokens or 1024,
                temperature=req.temperature,
            )
            return LiveCompletion(events, identity, lambda _: ResponseWriter(req, response_id, created))
        decision, chat = await api.engine.complete(
            msgs,
            identity=identity,
            hints=hints,
            headers=headers,
            tools=tools,
            max_tokens=req.max_output_tokens or 1024,
            temperature=req.temperature,
        )
        out_headers = decision_headers(decision, chat, identity)
        return JSONResponse(
            response_object(req, response_id, created, chat=chat, output=output_items(chat)), headers=out_headers
        )

    return await api.answer(work, "response")
