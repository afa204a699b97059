"""validate_tool_calls compiles each distinct tool schema once (benchmarks/run_step.py found the
metaschema check to be most of a step's validation cost): the cache must never change a verdict."""

from __future__ import annotations

import copy

import pytest

from mcproute.errors import ModelToolArgumentsInvalid
from mcproute.providers import ChatResponse, ToolCall, validate_tool_calls


def _tools(schema: dict[str, object]) -> list[dict[str, object]]:
    return [{"name": "fx__echo", "description": "echo", "inputSchema": schema}]


def _call(args: dict[str, object]) -> ChatResponse:
    return ChatResponse("", (ToolCall("1", "fx__echo", args),))


def test_a_schema_changed_under_the_same_tool_name_is_validated_with_its_new_content() -> None:
    schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    validate_tool_calls(_call({"text": "x"}), _tools(schema))
    stricter = copy.deepcopy(schema)
    stricter["properties"]["text"]["maxLength"] = 1  # type: ignore[index]
    with pytest.raises(ModelToolArgumentsInvalid, match="too long"):
        validate_tool_calls(_call({"text": "xy"}), _tools(stricter))
    # ... and the first schema's verdict is unchanged by the second one having been compiled.
    assert validate_tool_calls(_call({"text": "xy"}), _tools(schema)).tool_calls[0].arguments == {"text": "xy"}


def test_equal_schemas_in_different_objects_give_the_same_verdict_every_time() -> None:
    a = {"required": ["n"], "type": "object", "properties": {"n": {"type": "integer"}}}
    b = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}  # same, other key order
    for schema in (a, b, a):
        with pytest.raises(ModelToolArgumentsInvalid, match="'n' is a required property"):
            validate_tool_calls(_call({}), _tools(schema))
        validate_tool_calls(_call({"n": 3}), _tools(schema))


def test_a_broken_tool_schema_is_still_not_blamed_on_the_model_when_cached() -> None:
    broken = {"type": "object", "properties": {"n": {"type": "no-such-type"}}}
    for _ in range(2):  # first call compiles and caches the verdict, second one reads it
        validate_tool_calls(_call({"n": 1}), _tools(broken))


def test_a_schema_that_is_not_json_is_still_checked() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"], "x-object": object()}
    with pytest.raises(ModelToolArgumentsInvalid, match="'n' is a required property"):
        validate_tool_calls(_call({}), _tools(schema))
