"""What a tool's vector is made from: its name as words, then its description's first sentence.

The namespaced name keeps the server's name in front ("git git log: Shows the commit logs."),
which says what the tool works on when its own description does not. The first sentence says what
the tool does; the sentences after it say when to use it, what it needs and what it returns
("Only for cards in status 'pending_activation' ...", "Returns name, contact details, saved
addresses ..."), words that siblings share and that pulled their vectors together (docs/routing-tools.md,
"Sibling tools"). The lexical channel still reads the whole description. Parameter names are left
out: they are mostly the same few words (path, name, query) across tools and pull vectors together.
The encoder truncates the text to its `max_tokens`; this text (not the truncation) is the cache key.
"""

from __future__ import annotations

import re

from mcproute.router.retrieval_text import split_identifier
from mcproute.router.step import ToolSpec

# A sentence ends at . ! or ? after a lower-case letter, a digit or a bracket, before a space and an
# upper-case letter or bracket: "e.g. leave at door" and "v1.2" do not end one.
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)\]])[.!?](?=\s+[A-Z(])")


def first_sentence(description: str) -> str:
    """The description's first sentence, whitespace folded (all of it when it is one sentence)."""
    desc = " ".join(description.split())
    m = _SENTENCE_END.search(desc)
    return desc[: m.start() + 1] if m else desc


def tool_text(spec: ToolSpec) -> str:
    words = " ".join(split_identifier(spec.name))
    desc = first_sentence(spec.description)
    return f"{words}: {desc}" if desc else words
