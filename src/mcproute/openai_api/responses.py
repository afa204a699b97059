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
from starlette.responses import JSONResponse, Response, StreamingResponse

from mcproute.openai_api.app import aiter_frames, decision_headers
from mcproute.openai_api.responses_wire import chat_messages, chat_tools, event_stream, new_id, output_items, response_object, validate_request
from mcproute.openai_api.wire import load_object

if TYPE_CHECKING:
    from mcproute.openai_api.app import OpenAIEndpoint


async def create_response(api: OpenAIEndpoint, request: Request) -> Response:
    async def work() -> Response:
        api.check_token(request)
        req = validate_request(load_object(await api.read_body(request), api.bounds))
        hints = api.hints_for(req.model, request.headers)
        msgs = api.check_messages(chat_messages(req), param="input")
        tools = chat_tools(req)
        headers = dict(request.headers)
        identity = api.identity_for(headers, msgs, req.user)
        decision, chat = await api.engine.complete(msgs, identity=identity, hints=hints, headers=headers, tools=tools,
                                                   max_tokens=req.max_output_tokens or 1024, temperature=req.temperature)
        response_id, created = new_id("resp"), int(time.time())
        out_headers = decision_headers(decision, chat, identity)
        if req.stream:
            # Like chat completions, the stream is synthesised from the finished reply (the
            # provider layer returns whole replies), so errors above still get real status codes.
            return StreamingResponse(aiter_frames(event_stream(req, response_id, created, chat)), media_type="text/event-stream",
                                     headers={**out_headers, "cache-control": "no-cache"})
        return JSONResponse(response_object(req, response_id, created, chat=chat, output=output_items(chat)), headers=out_headers)

    return await api.answer(work, "response")
