"""The Responses API's event stream built from provider deltas as they arrive (the counterpart
of sse.py for `/v1/responses`; live.py sends the frames).

Items open as their first delta arrives: text opens a `message` item (item added, content part
added, then `response.output_text.delta` per delta); a tool call's first fragment closes whatever
is open and opens a `function_call` item (`response.function_call_arguments.delta` per fragment).
At the end every open item is closed with its `.done` events and `response.completed` (or
`response.incomplete`) carries the whole response, its items under the ids the deltas used. A
failure after the first event ends the stream with OpenAI's `error` event.
"""

from __future__ import annotations

import json
from typing import Any

from mcproute.openai_api.responses_wire import ResponsesRequest, new_id, response_object
from mcproute.providers import ChatResult
from mcproute.providers.streaming import TextDelta, ToolCallDelta


class ResponseWriter:
    def __init__(self, req: ResponsesRequest, response_id: str, created: int) -> None:
        self.req, self.response_id, self.created = req, response_id, created
        self.number = 0
        self.items: list[dict[str, Any]] = []  # closed items, in output order
        self.open: dict[str, Any] | None = None  # the item receiving deltas
        self.calls: dict[int, dict[str, Any]] = {}  # tool call index -> its item

    def frame(self, event: dict[str, Any]) -> bytes:
        data = json.dumps({**event, "sequence_number": self.number}, separators=(",", ":"))
        self.number += 1
        return f"event: {event['type']}\ndata: {data}\n\n".encode()

    def start(self) -> bytes:
        head = response_object(self.req, self.response_id, self.created)
        return self.frame({"type": "response.created", "response": head}) + self.frame(
            {"type": "response.in_progress", "response": head}
        )

    def _base(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"item_id": item["id"], "output_index": len(self.items)}

    def _open_message(self) -> bytes:
        item = {"id": new_id("msg"), "type": "message", "status": "in_progress", "role": "assistant", "content": []}
        self.open = item
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        return self.frame(
            {"type": "response.output_item.added", "output_index": len(self.items), "item": item}
        ) + self.frame({"type": "response.content_part.added", **self._base(item), "content_index": 0, "part": part})

    def _close(self) -> bytes:
        item, out = self.open, b""
        if item is None:
            return out
        base = self._base(item)
        if item["type"] == "message":
            text = "".join(item.pop("texts", []))
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            out += self.frame(
                {"type": "response.output_text.done", **base, "content_index": 0, "text": text, "logprobs": []}
            )
            out += self.frame({"type": "response.content_part.done", **base, "content_index": 0, "part": part})
            item.update(content=[part])
        else:
            out += self.frame(
                {
                    "type": "response.function_call_arguments.done",
                    **base,
                    "name": item["name"],
                    "arguments": item["arguments"],
                }
            )
        item["status"] = "completed"
        out += self.frame({"type": "response.output_item.done", "output_index": len(self.items), "item": item})
        self.items.append(item)
        self.open = None
        return out

    def delta(self, event: TextDelta | ToolCallDelta) -> bytes:
        out = b""
        if isinstance(event, TextDelta):
            if self.open is None or self.open["type"] != "message":
                out += self._close() + self._open_message()
            assert self.open is not None
            self.open.setdefault("texts", []).append(event.text)
            return out + self.frame(
                {
                    "type": "response.output_text.delta",
                    **self._base(self.open),
                    "content_index": 0,
                    "delta": event.text,
                    "logprobs": [],
                }
            )
        if event.index not in self.calls:
            out += self._close()
            item = {
                "id": new_id("fc"),
                "type": "function_call",
                "status": "in_progress",
                "call_id": event.id,
                "name": event.name,
                "arguments": "",
            }
            self.calls[event.index] = self.open = item
            out += self.frame({"type": "response.output_item.added", "output_index": len(self.items), "item": item})
        item = self.calls[event.index]
        item["arguments"] += event.arguments
        if not event.arguments:
            return out
        return out + self.frame(
            {"type": "response.function_call_arguments.delta", **self._base(item), "delta": event.arguments}
        )

    def finish(self, chat: ChatResult) -> bytes:
        out = self._close()
        if not self.items:  # an empty reply is still one (empty) message, as in a whole reply
            out += self._open_message() + self._close()
        done = response_object(self.req, self.response_id, self.created, chat=chat, output=self.items)
        return out + self.frame(
            {
                "type": "response.incomplete" if done["status"] == "incomplete" else "response.completed",
                "response": done,
            }
        )

    def error(self, body: dict[str, Any]) -> bytes:
        err = body.get("error") or {}
        return self.frame(
            {"type": "error", "code": err.get("code"), "message": err.get("message"), "param": err.get("param")}
        )
