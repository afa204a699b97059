"""Catalogue naming, filters, collisions and argument validation (pure, no I/O)."""

from __future__ import annotations

import re

from mcproute.config import ServerConfig, ToolFilter
from mcproute.gateway.catalog import MAX_NAME, Listing, build_catalog, namespaced
from mcproute.gateway.validation import ArgumentValidator

NAME_OK = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def tool(name: str, schema: dict | None = None) -> dict:
    return {"name": name, "description": f"does {name}", "inputSchema": schema or {"type": "object"}}


def srv(**kw: object) -> ServerConfig:
    return ServerConfig(command="x", **kw)  # type: ignore[arg-type]


def test_names_are_prefixed_sanitised_and_bounded_deterministically() -> None:
    assert namespaced("time", "get_time", "__") == "time__get_time"
    assert namespaced("my server", "tool/with:chars", "__") == "my_server__tool_with_chars"
    assert namespaced(None, "plain", "__") == "plain"
    long_a = namespaced("server", "a" * 80, "__")
    long_b = namespaced("server", "a" * 79 + "b", "__")
    assert len(long_a) == len(long_b) == MAX_NAME and long_a != long_b
    assert long_a == namespaced("server", "a" * 80, "__")  # stable across runs
    for name in (long_a, long_b, namespaced("s", "ünïcode tool", ".")):
        assert NAME_OK.match(name), name


def test_long_names_resolve_back_through_the_reverse_map() -> None:
    original = "x" * 100
    cat = build_catalog({"s": Listing(tools=(tool(original),))}, {"s": srv()})
    (entry,) = cat.tools.values()
    assert len(entry.name) <= MAX_NAME and entry.original == original and entry.server == "s"
    assert cat.tools[entry.name].wire["name"] == entry.name


def test_order_is_config_order_then_listing_order() -> None:
    listings = {"b": Listing(tools=(tool("z"), tool("a"))), "a": Listing(tools=(tool("m"),))}
    cat = build_catalog(listings, {"b": srv(), "a": srv()})
    assert list(cat.tools) == ["b__z", "b__a", "a__m"]
    assert [t["name"] for t in cat.tools_wire] == list(cat.tools)


def test_collisions_are_reported_and_first_server_wins() -> None:
    listings = {"one": Listing(tools=(tool("t"),)), "two": Listing(tools=(tool("t"),))}
    cat = build_catalog(listings, {"one": srv(prefix="p"), "two": srv(prefix="p")})
    assert cat.tools["p__t"].server == "one"
    assert len(cat.collisions) == 1 and "'two'" in cat.collisions[0] and "hidden" in cat.collisions[0]


def test_meta_tools_come_first_and_win_collisions() -> None:
    cat = build_catalog(
        {"mcproute": Listing(tools=(tool("route"),))}, {"mcproute": srv()}, meta_tools=[tool("mcproute__route")]
    )
    assert list(cat.tools) == ["mcproute__route"] and cat.tools["mcproute__route"].server == ""
    assert "meta-tool" in cat.collisions[0]


def test_allow_deny_globs_and_separator_and_no_prefix() -> None:
    listing = Listing(tools=(tool("git_status"), tool("git_reset"), tool("git_commit"), tool("other")))
    cfg = srv(tools=ToolFilter(allow=["git_*"], deny=["git_reset", "*commit"]))
    cat = build_catalog({"git": listing}, {"git": cfg}, separator=".")
    assert list(cat.tools) == ["git.git_status"]
    flat = build_catalog({"git": listing}, {"git": srv()}, prefix_tools=False)
    assert list(flat.tools) == ["git_status", "git_reset", "git_commit", "other"]


def test_unhealthy_servers_are_absent_and_resources_are_namespaced() -> None:
    listing = Listing(
        resources=({"uri": "file:///a.txt", "name": "a"},), templates=({"uriTemplate": "mem://{key}", "name": "m"},)
    )
    cat = build_catalog({"docs": listing}, {"docs": srv(), "down": srv()})
    assert [r["uri"] for r in cat.resources] == ["docs+file:///a.txt"]
    assert [t["uriTemplate"] for t in cat.templates] == ["docs+mem://{key}"]
    assert cat.resolve_uri("docs+file:///a.txt") == ("docs", "file:///a.txt")
    assert cat.resolve_uri("down+file:///x") is None and cat.resolve_uri("file:///x") is None
    # Raw URIs resolve when exactly one server lists them (or a template of it matches).
    assert cat.resolve_uri("file:///a.txt") == ("docs", "file:///a.txt")
    assert cat.resolve_uri("mem://k1") == ("docs", "mem://k1")
    assert cat.upstream_uri("docs", "file:///b.txt") == "docs+file:///b.txt"


def test_resource_uris_pass_through_unchanged_without_prefixing() -> None:
    listing = Listing(
        resources=({"uri": "test://static", "name": "s"},),
        templates=({"uriTemplate": "test://t/{id}/data", "name": "t"},),
    )
    cat = build_catalog({"fx": listing}, {"fx": srv()}, prefix_tools=False)
    assert [r["uri"] for r in cat.resources] == ["test://static"]
    assert [t["uriTemplate"] for t in cat.templates] == ["test://t/{id}/data"]
    assert cat.resolve_uri("test://static") == ("fx", "test://static")
    assert cat.resolve_uri("test://anything-embedded") == ("fx", "test://anything-embedded")
    assert cat.upstream_uri("fx", "test://x") == "test://x"
    blocks = [{"type": "resource", "resource": {"uri": "test://x", "text": "t"}}]
    cat.rewrite_blocks("fx", blocks)
    assert blocks[0]["resource"]["uri"] == "test://x"


def test_embedded_resource_uris_are_prefixed_consistently_and_ambiguous_raw_uris_refused() -> None:
    a = Listing(resources=({"uri": "mem://shared", "name": "s"}, {"uri": "mem://only-a", "name": "a"}))
    b = Listing(
        resources=({"uri": "mem://shared", "name": "s"},), templates=({"uriTemplate": "file:///{+path}", "name": "f"},)
    )
    cat = build_catalog({"a": a, "b": b}, {"a": srv(), "b": srv()})
    blocks = [
        {"type": "text", "text": "mem://shared"},
        {"type": "resource", "resource": {"uri": "mem://shared", "text": "x"}},
        {"type": "resource_link", "uri": "mem://only-a", "name": "a"},
    ]
    cat.rewrite_blocks("a", blocks)
    assert blocks[0]["text"] == "mem://shared"  # text is not a URI field
    assert blocks[1]["resource"]["uri"] == "a+mem://shared" and blocks[2]["uri"] == "a+mem://only-a"
    assert cat.resolve_uri(blocks[1]["resource"]["uri"]) == ("a", "mem://shared")
    assert cat.resolve_uri("mem://shared") is None  # two servers list it: ambiguous
    assert cat.resolve_uri("mem://only-a") == ("a", "mem://only-a")
    assert cat.resolve_uri("file:///deep/dir/x.txt") == ("b", "file:///deep/dir/x.txt")


def test_tool_specs_for_the_router() -> None:
    cat = build_catalog(
        {"s": Listing(tools=(tool("t", {"type": "object", "properties": {"q": {"type": "string"}}}),))}, {"s": srv()}
    )
    (spec,) = cat.tool_specs()
    assert (spec.name, spec.server, spec.description) == ("s__t", "s", "does t")
    assert spec.input_schema["properties"]["q"]["type"] == "string"


def test_argument_validation_names_each_problem_with_its_path() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}, "items": {"type": "array", "items": {"type": "string"}}},
        "required": ["n"],
        "additionalProperties": False,
    }
    v = ArgumentValidator()
    assert v.problems("t", schema, {"n": 1, "items": ["a"]}) == []
    problems = v.problems("t", schema, {"items": ["a", 2], "extra": True})
    assert any("'n' is a required property" in p for p in problems)
    assert any(p.startswith("arguments.items[1]: 2 is not of type 'string'") for p in problems)
    assert any("'extra' was unexpected" in p for p in problems)


def test_an_invalid_downstream_schema_does_not_block_calls() -> None:
    v = ArgumentValidator()
    assert v.problems("t", {"type": "not-a-type"}, {"anything": 1}) == []
