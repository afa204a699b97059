"""Conversation identity: the order of sources, validation, and what is never the client's fault."""

from __future__ import annotations

import pytest

from mcproute.errors import InvalidConversationId, InvalidRequest
from mcproute.gateway.identity import (
    HEADER,
    MAX_LENGTH,
    META_KEY,
    resolve_conversation_id,
    trace_id_from_traceparent,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def _all_sources() -> dict[str, object]:
    return {
        "arguments": {"conversation_id": "from-arg"},
        "meta": {META_KEY: "from-meta", "traceparent": TRACEPARENT},
        "headers": {HEADER: "from-header"},
        "session_id": "from-session",
    }


def test_first_match_wins_in_documented_order() -> None:
    given = _all_sources()
    assert resolve_conversation_id(**given) == ("from-arg", "argument")  # type: ignore[arg-type]
    given["arguments"] = {}
    assert resolve_conversation_id(**given) == ("from-meta", "meta")  # type: ignore[arg-type]
    given["meta"] = {"traceparent": TRACEPARENT}
    assert resolve_conversation_id(**given) == ("from-header", "header")  # type: ignore[arg-type]
    given["headers"] = {}
    assert resolve_conversation_id(**given) == (TRACE_ID, "traceparent")  # type: ignore[arg-type]
    given["meta"] = {}
    assert resolve_conversation_id(**given) == ("from-session", "session")  # type: ignore[arg-type]
    given["session_id"] = None
    ident = resolve_conversation_id(**given, new_id=lambda: "fresh-1")  # type: ignore[arg-type]
    assert ident == ("fresh-1", "new")
    cid, source = ident  # unpacks as a pair
    assert (cid, source) == ("fresh-1", "new")


def test_new_ids_are_unique_and_valid_by_default() -> None:
    a, b = resolve_conversation_id(), resolve_conversation_id()
    assert a.source == b.source == "new"
    assert a.id != b.id and len(a.id) == 32


def test_header_lookup_is_case_insensitive() -> None:
    assert resolve_conversation_id(headers={"x-conversation-id": "abc"}) == ("abc", "header")


def test_traceparent_can_be_turned_off() -> None:
    ident = resolve_conversation_id(meta={"traceparent": TRACEPARENT}, session_id="sess", from_traceparent=False)
    assert ident == ("sess", "session")


def test_empty_values_count_as_absent() -> None:
    ident = resolve_conversation_id(
        arguments={"conversation_id": ""}, meta={META_KEY: ""}, headers={HEADER: ""}, session_id="s1"
    )
    assert ident == ("s1", "session")


@pytest.mark.parametrize(
    "value",
    [
        "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # not hex
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # v00 has no extra parts
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case is invalid
        42,
    ],
)
def test_invalid_traceparent_is_skipped_not_an_error(value: object) -> None:
    assert trace_id_from_traceparent(value) is None
    assert resolve_conversation_id(meta={"traceparent": value}, session_id="s2") == ("s2", "session")


def test_future_traceparent_version_may_carry_extra_fields() -> None:
    assert trace_id_from_traceparent(f"01-{TRACE_ID}-00f067aa0ba902b7-01-more") == TRACE_ID


@pytest.mark.parametrize(
    ("kwargs", "where"),
    [
        ({"arguments": {"conversation_id": "x" * (MAX_LENGTH + 1)}}, "'conversation_id' argument"),
        ({"meta": {META_KEY: "y" * 500}}, "_meta['mcproute/conversation_id']"),
        ({"headers": {HEADER: "z" * 129}}, "X-Conversation-Id header"),
    ],
)
def test_too_long_is_refused_naming_the_source(kwargs: dict[str, object], where: str) -> None:
    with pytest.raises(InvalidConversationId) as err:
        resolve_conversation_id(**kwargs)  # type: ignore[arg-type]
    assert where in str(err.value)
    assert f"limit is {MAX_LENGTH}" in str(err.value)
    assert isinstance(err.value, InvalidRequest)  # the client's fault, not an outage


@pytest.mark.parametrize(
    ("value", "bad", "pos"),
    [("has space", " ", 3), ("semi;colon", ";", 4), ("new\nline", "\n", 3), ("naïve", "ï", 2), ("a/b", "/", 1)],
)
def test_odd_characters_are_refused_with_the_character_and_position(value: str, bad: str, pos: int) -> None:
    with pytest.raises(InvalidConversationId) as err:
        resolve_conversation_id(arguments={"conversation_id": value})
    msg = str(err.value)
    assert repr(bad) in msg and f"position {pos}" in msg and "letters, digits" in msg


def test_non_string_is_refused() -> None:
    with pytest.raises(InvalidConversationId, match="must be a string, got int"):
        resolve_conversation_id(meta={META_KEY: 12})


def test_exactly_max_length_and_common_formats_are_accepted() -> None:
    for value in ("a" * MAX_LENGTH, "01J9Z6K3M8Q2W5E7R9T1Y3U5I7", "user@example.com:thread-7", "dGVzdA=="):
        assert resolve_conversation_id(arguments={"conversation_id": value}).id == value


def test_odd_session_id_is_hashed_not_refused() -> None:
    ident = resolve_conversation_id(session_id="sess with spaces/and slashes")
    assert ident.source == "session"
    assert ident.id.startswith("s-") and len(ident.id) == 34
    # Stable: the same session always maps to the same conversation.
    assert resolve_conversation_id(session_id="sess with spaces/and slashes") == ident
    long = "q" * 300
    assert resolve_conversation_id(session_id=long).id.startswith("s-")
