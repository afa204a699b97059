"""The offline stand-in models (`mcproute.demo`): predictable replies that make the bundled config
work end to end without API keys, so they must not do what no offered tool can do."""

from __future__ import annotations

from mcproute.demo import fast
from mcproute.providers import ChatRequest, Message, ToolDef
from mcproute.runtime.steps import NO_TOOL_NOTE, STEP_SYSTEM

GIT = (
    ToolDef("git__git_status", "Shows the working tree status", {"type": "object", "properties": {}}),
    ToolDef(
        "git__git_branch",
        "List Git branches",
        {"type": "object", "properties": {"branch_type": {"type": "string"}}, "required": ["branch_type"]},
    ),
)


def _ask(text: str) -> dict:
    return fast(ChatRequest((Message("user", text),), GIT, tool_choice="auto"), 0)


def test_a_request_about_an_offered_tool_calls_it() -> None:
    reply = _ask("list the branches of this repo")
    assert [c["name"] for c in reply["tool_calls"]] == ["git__git_branch"]


def test_a_named_operation_no_offered_tool_does_gets_a_text_answer() -> None:
    """ "git push my feature branch to origin" shares "branch" with git_branch, which cannot push:
    the router says no tool fits, and the stand-in does not call one either."""
    reply = _ask("git push my feature branch to origin")
    assert "tool_calls" not in reply and reply["text"].startswith("fast model:")


def test_a_tool_result_ends_the_loop_with_a_text_answer() -> None:
    msgs = (Message("user", "what branches are there"), Message("tool", "main\nfeature/x"))
    reply = fast(ChatRequest(msgs, GIT, tool_choice="auto"), 1)
    assert reply["text"] == "fast model: the tool answered: main feature/x"


MEMORY = ToolDef(
    "memory__create_entities",
    "Create multiple new entities in the knowledge graph",
    {
        "type": "object",
        "properties": {
            "entities": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "entityType": {"type": "string"},
                        "observations": {"type": "array", "items": {"type": "string"}},
                    },
                    "required": ["name", "entityType", "observations"],
                },
            }
        },
        "required": ["entities"],
    },
)


def _step(text: str, system: str, tools: tuple[ToolDef, ...]) -> dict:
    return fast(ChatRequest((Message("system", system), Message("user", text)), tools, tool_choice="auto"), 0)


def test_in_a_gateway_step_it_calls_the_routers_first_tool() -> None:
    """In a `run_step` the gateway writes the system message and offers the tools best first: the
    stand-in trusts that order, even where it shares no word with the request."""
    reply = _step("remember that Alice works at Acme", STEP_SYSTEM, (MEMORY, *GIT))
    [call] = reply["tool_calls"]
    assert call["name"] == "memory__create_entities"
    [entity] = call["arguments"]["entities"]  # arrays of objects get one item that fills the schema
    assert set(entity) == {"name", "entityType", "observations"} and len(entity["observations"]) == 1


def test_told_that_no_tool_fits_it_answers_in_words() -> None:
    reply = _step("list the branches of this repo", f"{STEP_SYSTEM} {NO_TOOL_NOTE}", GIT)
    assert "tool_calls" not in reply and reply["text"].startswith("fast model:")
