"""Building a ToolIndex compiles postings and indexes names once for all servers (not once per
server, which was quadratic): the result must be exactly what the per-server build produced."""

from __future__ import annotations

import numpy as np

from mcproute.router.step import ConversationState, ToolSpec
from mcproute.router.tools import RetrievalContext, ToolIndex

WORDS = (
    "weather forecast city temperature commit repository branch diff factorial triangle hypotenuse "
    "flight hotel booking currency convert invoice email send calendar event meeting file read write "
    "delete search query database table user account password reset stock price market news"
).split()


def _catalog(servers: int = 40, per_server: int = 7) -> list[ToolSpec]:
    out = []
    for s in range(servers):
        for i in range(per_server):
            w = [WORDS[(s * 7 + i * 3 + k) % len(WORDS)] for k in range(6)]
            name = f"{w[0]}_{w[1]}" if i % 3 else f"{w[0]}.{w[2]}"  # duplicate names across servers on purpose
            schema = {"type": "object", "properties": {w[3]: {"type": "string", "description": f"the {w[4]}"}}}
            out.append(ToolSpec(name, f"{w[0].title()} the {w[1]} of a {w[2]} for the {w[5]}.", schema, f"srv{s:02d}"))
    return out


def _per_server_build(tools: list[ToolSpec]) -> ToolIndex:
    """The previous construction: every server added and finished (compiled, names indexed) alone."""
    index = ToolIndex()
    groups: dict[str, list[ToolSpec]] = {}
    for t in tools:
        groups.setdefault(t.server, []).append(t)
    index._len_sum = dict.fromkeys(index._len_sum, 0)
    from mcproute.router.retrieval_text import tool_fields

    for t in tools:
        for f, terms in tool_fields(t.name, t.description, t.input_schema).items():
            index._len_sum[f] += len(terms)
    index._set_avg(len(tools))
    for server, specs in groups.items():
        index._add_server(server, specs)
    return index


def test_the_batch_build_equals_the_per_server_build() -> None:
    tools = _catalog()
    fast, slow = ToolIndex(tools), _per_server_build(tools)
    assert fast.names == slow.names
    assert fast._by_name == slow._by_name and fast._by_lname == slow._by_lname
    assert fast._arr.keys() == slow._arr.keys()
    for term, (slots, vals) in slow._arr.items():
        assert np.array_equal(fast._arr[term][0], slots) and np.array_equal(fast._arr[term][1], vals)
    state = ConversationState(
        "c", tools_used=(tools[3].name,), servers_used=(tools[3].server,), recent_texts=("convert the currency",)
    )
    for text in (
        "what is the weather forecast for the city",
        "send an email about the meeting",
        "reset my account password",
        "show the diff of the repository branch",
        "factorial of 7",
        "book a hotel",
    ):
        for context in (None, RetrievalContext.from_state(state)):
            assert fast.rank(text, context=context, k=10) == slow.rank(text, context=context, k=10)


def test_updates_after_a_batch_build_still_replace_one_server() -> None:
    tools = _catalog(servers=6)
    index = ToolIndex(tools)
    index.update("srv02", [ToolSpec("lunar_phase", "Phase of the moon on a given date.", {}, "srv02")])
    assert "lunar_phase" in index.names and not any(
        n
        for n in index.names
        if n in {t.name for t in tools if t.server == "srv02"} - {t.name for t in tools if t.server != "srv02"}
    )
    assert index.rank("what phase is the moon in tonight").candidates[0].name == "lunar_phase"
