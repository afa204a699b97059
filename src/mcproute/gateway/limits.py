"""Bounds on every JSON value that crosses the gateway: nesting depth and message size.

Why: a ~800-byte request with arguments nested 255 deep made pydantic refuse to serialise it
*inside a transport's writer task*; the exception killed the transport, the downstream was
restarted and every other client's in-flight call failed (issue 14, item 2). Results nested
that deep were dropped as junk and their call waited out its timeout. So each entry point —
stdio and HTTP upstream, the downstream read side, `/v1/chat/completions` — asks this module
before a value goes any further, and answers the sender with an error that names the limit and
where it was crossed (`$.params.arguments.a.a…`). The transports also survive a message they
cannot serialise, but that is the last line of defence, not the check.

Depth counts containers from the top of the message: `{}` alone is depth 1, so
`{"params": {"arguments": {}}}` is depth 3. The default (64) is far above what real MCP
traffic needs (a JSON Schema in a `tools/list` result sits ~6 levels below the top plus its own
nesting) and far below pydantic's parser (~200) and serialiser (255) limits.

Everything here is pure and linear in the input: a byte check costs two `bytes.count` calls
unless the message holds more brackets than the depth limit, and only then a scan that keeps
no more than `max_depth` frames.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcproute.config import GatewayConfig

DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
_SHOWN_SEGMENTS = 8  # a path longer than this is cut: the point is *where*, not all 5,000 levels

# A JSON string (escapes included) or one structural character; numbers, literals and blanks
# are skipped, which is all the depth scan needs.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]')
_ID_VALUE = re.compile(rb'\s*:\s*(-?\d+|"[^"\\]*(?:\\.[^"\\]*)*")\s*[,}]')
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True, slots=True)
class JsonLimits:
    max_depth: int = DEFAULT_MAX_DEPTH
    max_bytes: int = DEFAULT_MAX_BYTES

    @classmethod
    def from_config(cls, gateway: GatewayConfig) -> JsonLimits:
        return cls(max_depth=gateway.max_json_depth, max_bytes=gateway.max_message_bytes)

    def depth_message(self, path: Sequence[Any], *, root: str = "$") -> str:
        return f"JSON nested deeper than {self.max_depth} levels (gateway.max_json_depth) at {format_path(path, root)}"

    def size_message(
        self, size: int | None, *, limit: int | None = None, setting: str = "gateway.max_message_bytes"
    ) -> str:
        what = f"{size} bytes" if size is not None else "more bytes"
        return f"message of {what} exceeds the limit of {limit or self.max_bytes} ({setting})"

    def check_bytes(self, raw: bytes) -> str | None:
        """None when `raw` (one JSON text) is within both limits, else what is wrong and where."""
        if len(raw) > self.max_bytes:
            return self.size_message(len(raw))
        if raw.count(b"{") + raw.count(b"[") <= self.max_depth:
            return None  # fewer brackets than the limit: cannot be nested that deep
        path = _too_deep_in_bytes(raw, self.max_depth)
        return None if path is None else self.depth_message(path)

    def check_value(self, value: Any, *, root: str = "$", depth: int = 0) -> str | None:
        """The same depth check on a parsed value found `depth` levels below the top."""
        path = _too_deep_in_value(value, self.max_depth - depth)
        return None if path is None else self.depth_message(path, root=root)


def format_path(path: Sequence[Any], root: str = "$") -> str:
    """`$.params.arguments.a[0]`, cut after a few segments (the limit in the message says how deep)."""
    out = root
    for seg in path[:_SHOWN_SEGMENTS]:
        if isinstance(seg, int):
            out += f"[{seg}]"
        else:
            key = str(seg)[:40]
            out += f".{key}" if _IDENT.match(key) else f"[{json.dumps(key)}]"
    if len(path) > _SHOWN_SEGMENTS:
        out += "…"
    return out


def request_id(raw: bytes) -> str | int | None:
    """The top-level `"id"` of a JSON-RPC message that is too deep (or too odd) to parse whole.

    Scans only the top level, so an `"id"` key inside `params` is never mistaken for it."""
    depth = 0
    for m in _TOKEN.finditer(raw):
        first = m.group()[0]
        if first in b"{[":
            depth += 1
        elif first in b"}]":
            depth -= 1
        elif depth == 1 and m.group() == b'"id"' and (value := _ID_VALUE.match(raw, m.end())) is not None:
            text = value.group(1)
            return int(text) if text[0] != 0x22 else _decode(text)
    return None


def _decode(token: bytes) -> str | None:
    try:
        value = json.loads(token)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def _too_deep_in_bytes(raw: bytes, max_depth: int) -> list[Any] | None:
    """The path to the first container opened below `max_depth` levels, or None."""
    # Per open container: [is_object, current key token (bytes) or element index (int)].
    stack: list[list[Any]] = []
    expect_key = False
    for m in _TOKEN.finditer(raw):
        tok = m.group()
        first = tok[0]
        if first == 0x22:  # a string
            if expect_key and stack:
                stack[-1][1] = tok
                expect_key = False
        elif first in b"{[":
            if len(stack) >= max_depth:
                return [_decode(seg) or "?" if isinstance(seg, bytes) else seg for _, seg in stack]
            is_object = first == 0x7B
            stack.append([is_object, None if is_object else 0])
            expect_key = is_object
        elif first in b"}]":
            if stack:
                stack.pop()
            expect_key = False
        elif stack:  # a comma
            if stack[-1][0]:
                expect_key = True
            else:
                stack[-1][1] += 1
    return None


def _too_deep_in_value(value: Any, max_depth: int) -> list[Any] | None:
    if not isinstance(value, dict | list | tuple):
        return None
    # Iterative, so a value nested past the interpreter's recursion limit is measured too.
    todo: list[tuple[Any, int, tuple[Any, ...]]] = [(value, 1, ())]
    while todo:
        node, depth, path = todo.pop()
        if depth > max_depth:
            return list(path)
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            if isinstance(child, dict | list | tuple):
                todo.append((child, depth + 1, (*path, key)))
    return None
