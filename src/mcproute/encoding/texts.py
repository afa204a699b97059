"""What a tool's vector is made from: its name as words, then its description.

The namespaced name keeps the server's name in front ("git git log: Shows the commit logs."),
which says what the tool works on when its own description does not. Parameter names are left
out: they are mostly the same few words (path, name, query) across tools and pull vectors together.
The encoder truncates the text to its `max_tokens`; this text (not the truncation) is the cache key.
"""

from __future__ import annotations

from mcproute.router.retrieval_text import split_identifier
from mcproute.router.step import ToolSpec


def tool_text(spec: ToolSpec) -> str:
    words = " ".join(split_identifier(spec.name))
    desc = " ".join(spec.description.split())
    return f"{words}: {desc}" if desc else words
