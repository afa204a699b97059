"""Tool examples (`servers.<name>.tools.examples`): people teach the ranking their own words.

A tool's sentence vector also means what its examples say (runtime/tool_examples.py), so a request
phrased like them finds the tool; tools without examples rank as before, and every decision made
while examples are in force names them in its policy version.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mcproute.config import load_config, parse_config
from mcproute.encoding.texts import tool_text
from mcproute.errors import ConfigError
from mcproute.gateway.identity import ConversationIdentity
from mcproute.router.retrieval_examples import NO_TOOL
from mcproute.router.tools import ToolIndex, specs_from_dicts
from mcproute.runtime import Engine
from mcproute.runtime.status import status_report
from mcproute.runtime.tool_examples import (
    blend,
    description_sha,
    encode_tool_examples,
    examples_id,
    reference_server,
    shipped_examples,
    shipped_for_catalog,
    shipped_in_force,
    shipped_no_tool,
    tool_examples_in_force,
)
from reference_support import ReferenceIndex
from runtime_support import config_dict, loaded_config

REFERENCE = Path(__file__).parent / "data" / "catalogs" / "reference_servers.json"
TIME_SERVER = {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}
# Asked without a word the time server's descriptions use: on the reference catalogue, statically no tool fits.
CALL_NOW = "is it too late to ring my mum in Perth"
TAUGHT = {
    "get_current_time": [
        "are they awake in Sydney yet",
        "can I still phone the office in Lagos",
        "what's the hour in Lima right now",
    ]
}


def test_examples_are_keyed_by_the_served_name_as_the_catalogue_derives_it() -> None:
    own_only = {"examples": TAUGHT, "shipped_examples": False}
    raw = config_dict("/tmp/x", servers={"clock": {**TIME_SERVER, "tools": own_only}})
    pairs = tool_examples_in_force(parse_config(json.dumps(raw), environ={}).config)
    assert pairs == [("clock__get_current_time", t) for t in TAUGHT["get_current_time"]]
    raw["gateway"] = {"prefix_tools": False}
    assert {t for t, _ in tool_examples_in_force(parse_config(json.dumps(raw), environ={}).config)} == {
        "get_current_time"
    }
    assert examples_id(pairs).startswith("tx-") and examples_id(pairs) != examples_id(pairs[:1])


def test_an_empty_example_is_a_clear_error_naming_where() -> None:
    raw = config_dict("/tmp/x", servers={"time": {**TIME_SERVER, "tools": {"examples": {"get_current_time": [" "]}}}})
    with pytest.raises(ConfigError, match=r"servers\.time\.tools\.examples.*example 0 of 'get_current_time' is empty"):
        parse_config(json.dumps(raw), environ={})


def test_an_example_moves_a_close_request_and_leaves_unrelated_ones_alone(encoder) -> None:  # noqa: ANN001
    specs = specs_from_dicts(json.loads(REFERENCE.read_text(encoding="utf-8")))
    own = dict(zip((s.name for s in specs), encoder.encode([tool_text(s) for s in specs]), strict=True))
    means = encode_tool_examples(encoder, [("time__get_current_time", t) for t in TAUGHT["get_current_time"]]).means
    plain, taught = ToolIndex(specs), ToolIndex(specs)
    plain.attach_vectors(own)
    taught.attach_vectors(blend(own, means))
    assert set(blend(own, means)) == set(own)  # every tool keeps a vector; only the taught one moves
    assert all((blend(own, means)[n] == v).all() for n, v in own.items() if n != "time__get_current_time")

    def rank(index: ToolIndex, text: str):  # noqa: ANN202
        return index.rank(text, k=10, vector=encoder.encode_one(text))

    before, after = rank(plain, CALL_NOW), rank(taught, CALL_NOW)
    assert before.no_tool
    assert not after.no_tool and after.candidates[0].name == "time__get_current_time", after.explanation
    for unrelated in ("show me the last 3 commits", "make a folder named reports", "write a haiku about rain"):
        b, a = rank(plain, unrelated), rank(taught, unrelated)
        assert (a.no_tool, [c.name for c in a.candidates[:1]]) == (b.no_tool, [c.name for c in b.candidates[:1]])


GIT_STATUS_TAUGHT = ["what's uncommitted in my working copy", "anything I forgot to commit?", "is my checkout clean"]


def test_a_taught_tool_moves_ahead_by_its_examples(encoder) -> None:  # noqa: ANN001
    """The examples' own term (router/retrieval_examples.py), isolated from the blend: one taught
    tool is enough and the reason says what moved. P(fit) moves only with a taught leader, and never
    for a step a rule vetoes or a question for the model's own knowledge (its own test below)."""
    specs = specs_from_dicts(json.loads(REFERENCE.read_text(encoding="utf-8")))
    own = dict(zip((s.name for s in specs), encoder.encode([tool_text(s) for s in specs]), strict=True))
    rows = encode_tool_examples(encoder, [("git__git_status", t) for t in GIT_STATUS_TAUGHT]).rows
    plain, taught = ToolIndex(specs), ToolIndex(specs)
    plain.attach_vectors(own)
    taught.attach_vectors(own, examples=rows)

    def rank(index: ToolIndex, text: str):  # noqa: ANN202
        return index.rank(text, k=10, vector=encoder.encode_one(text))

    # not a question ("what's dirty ..."): a question about how things are goes to a reading tool
    # without any examples (retrieval_intent.asks_about)
    asked = "anything dirty in my checkout"
    before, after = rank(plain, asked), rank(taught, asked)
    assert before.candidates[0].name == "git__git_checkout"
    assert after.candidates[0].name == "git__git_status"
    assert "the tools' examples put git__git_status (closeness" in after.explanation
    assert "ahead of git__git_checkout (no examples)" in after.explanation
    for text in ("write a haiku about rain", "tell me about the history of jazz", "thanks, that helped"):
        b, a = rank(plain, text), rank(taught, text)
        assert (a.no_tool, a.no_tool_score) == (b.no_tool, b.no_tool_score), text
    for text in (asked, "is the repo clean"):  # git_status leads: its examples move P(fit), and say so
        b, a = rank(plain, text), rank(taught, text)
        assert a.no_tool_score != b.no_tool_score and "P(fit) (closeness" in a.explanation, text

    taught.attach_vectors(own, examples={})  # the examples withdrawn: ranks exactly as untaught
    assert rank(taught, asked) == rank(plain, asked)
    taught.attach_vectors({"git__git_status": own["git__git_status"]}, examples=rows)
    taught.update("git", [])  # its server leaves: the examples of a tool no longer listed do nothing
    assert all(not c.name.startswith("git__") for c in rank(taught, asked).candidates)


def test_a_step_as_close_as_a_tools_own_examples_fits_it_though_its_words_do_not(encoder, monkeypatch) -> None:  # noqa: ANN001
    """How examples change the no-tool verdict (`FIT_RAISE`, `FIT_LOWER`): the leader's closeness moves P(fit)
    in logit space, so a leader the step is very close to by its examples fits; a question for the
    model's own knowledge is never moved."""
    from mcproute.router import tools

    specs = specs_from_dicts(json.loads(REFERENCE.read_text(encoding="utf-8")))
    own = dict(zip((s.name for s in specs), encoder.encode([tool_text(s) for s in specs]), strict=True))
    taught_texts = ["one more fact about Dana: she plays cello", "note on Orion: the launch slipped to May"]
    index = ToolIndex(specs)
    index.attach_vectors(
        own, examples=encode_tool_examples(encoder, [("memory__add_observations", t) for t in taught_texts]).rows
    )

    def rank(text: str):  # noqa: ANN202
        return index.rank(text, k=10, vector=encoder.encode_one(text))

    asked = "another thing about Orion: the launch slipped again"
    monkeypatch.setattr(tools, "FIT_RAISE", 0.0)  # the no-tool model's verdict alone
    assert rank(asked).no_tool
    monkeypatch.undo()
    after = rank(asked)
    assert not after.no_tool and after.candidates[0].name == "memory__add_observations", after.explanation
    assert "its examples raise P(fit) (closeness" in after.explanation
    assert rank("tell me about the history of jazz").no_tool
    # In the tool's own words but unlike its two examples: P(fit) falls, by less than it would rise.
    worded = "add observations to entity Sky: colour blue"
    monkeypatch.setattr(tools, "FIT_LOWER", 0.0)
    untouched = rank(worded)
    monkeypatch.undo()
    lowered = rank(worded)
    assert lowered.candidates[0].name == untouched.candidates[0].name == "memory__add_observations"
    assert lowered.no_tool_score > untouched.no_tool_score and not lowered.no_tool
    assert "its examples lower P(fit) (closeness" in lowered.explanation


def test_a_tool_raises_p_fit_only_from_where_other_tools_requests_stop_reaching_its_examples() -> None:
    """The margin (`FIT_QUANTILE`): measured on the examples themselves, it is what the requests
    taught to other tools reach of a tool's examples, above BASELINE. A tool whose neighbour's
    requests sit next to its own needs a closer step before its examples raise P(fit); a tool far
    from every other request keeps none, and so does any tool while too few other requests exist."""
    from mcproute.router.retrieval_examples import MIN_OTHERS, TaughtTools

    rng = np.random.default_rng(0)

    def around(axis: int, n: int, spread: float = 0.08) -> np.ndarray:
        rows = rng.normal(0.0, spread, (n, 64))
        rows[:, axis] += 1.0
        return rows

    taught = TaughtTools()
    taught.set(
        ["git_diff", "git_diff_staged", "get_current_time"],
        {"git_diff": around(0, 12), "git_diff_staged": around(0, 12), "get_current_time": around(8, 12)},
    )
    assert taught.fit_margin("git_diff") > 0.3 and taught.fit_margin("git_diff_staged") > 0.3
    assert taught.fit_margin("get_current_time") == 0.0
    assert taught.fit_margin("not taught") == 0.0

    few = TaughtTools()  # the two others hold fewer than MIN_OTHERS requests between them
    few.set(["a", "b", "c"], {"a": around(0, 5), "b": around(0, MIN_OTHERS // 2 - 1), "c": around(0, 2)})
    assert few.fit_margin("a") == 0.0


def test_a_step_closer_to_requests_that_need_no_tool_than_to_the_leaders_examples_fits_less(encoder) -> None:  # noqa: ANN001
    """Requests taught under NO_TOOL (`FIT_NONE`): when the step is closer to them than to the
    taught leader's own examples, P(fit) falls, and the reason says so; a request like the
    leader's examples keeps its P(fit), and withdrawing them ranks as before."""
    specs = [
        s for s in specs_from_dicts(json.loads(REFERENCE.read_text(encoding="utf-8"))) if s.name.startswith("time__")
    ]
    own = dict(zip((s.name for s in specs), encoder.encode([tool_text(s) for s in specs]), strict=True))
    pairs = [("time__get_current_time", t) for t in ("what time is it in Tokyo", "current time in Paris")]
    pairs += [("time__convert_time", t) for t in ("convert 3pm London time to New York", "9am Berlin in Sydney time")]
    durations = ["how long does it take to learn the guitar", "how much time should I study each day"]
    plain, taught = ToolIndex(specs), ToolIndex(specs)
    plain.attach_vectors(own, examples=encode_tool_examples(encoder, pairs).rows)
    with_none = encode_tool_examples(encoder, pairs + [(NO_TOOL, t) for t in durations]).rows
    taught.attach_vectors(own, examples=with_none)

    def rank(index: ToolIndex, text: str):  # noqa: ANN202
        return index.rank(text, k=2, vector=encoder.encode_one(text))

    asked = "how much time do I need to learn Python basics?"
    before, after = rank(plain, asked), rank(taught, asked)
    assert after.no_tool and after.no_tool_score > before.no_tool_score + 0.2, (before.explanation, after.explanation)
    assert "requests that need no tool come closer" in after.explanation
    for kept in ("what time is it in Seoul", "convert 5pm Madrid time to Chicago"):
        assert rank(taught, kept) == rank(plain, kept), kept
    taught.attach_vectors(own, examples=encode_tool_examples(encoder, pairs).rows)  # withdrawn: as before
    assert rank(taught, asked) == before


def test_none_share_is_the_closeness_weighted_share_of_no_tool_requests_among_the_nearest() -> None:
    """`none_share`: of the KNN_K taught requests nearest the step (every tool's and the no-tool
    ones), weighted by closeness, the share taught as needing no tool."""
    from mcproute.router.retrieval_examples import KNN_K, TaughtTools

    rng = np.random.default_rng(1)

    def around(axis: int, n: int) -> np.ndarray:
        rows = rng.normal(0.0, 0.05, (n, 32))
        rows[:, axis] += 1.0
        return rows

    def unit(axis: int) -> np.ndarray:
        v = np.zeros(32, dtype=np.float32)
        v[axis] = 1.0
        return v

    taught = TaughtTools()
    taught.set(["get_current_time"], {"get_current_time": around(0, KNN_K)}, shipped={"get_current_time"})
    assert taught.none_share(unit(0)) is None  # no no-tool examples: nothing to say
    taught.set_none(around(5, KNN_K))
    assert taught.none_share(unit(5)) > 0.99
    assert taught.none_share(unit(0)) < 0.01
    halfway = (unit(0) + unit(5)) / np.sqrt(2.0)
    assert 0.05 < taught.none_share(halfway) < 0.95
    taught.set(["get_current_time"], {"get_current_time": around(0, KNN_K)})  # now yours: not read
    assert taught.none_share(unit(5)) is None and not taught.ships("get_current_time")


def test_a_step_whose_nearest_taught_requests_needed_no_tool_fits_less(encoder, monkeypatch) -> None:  # noqa: ANN001
    """A reaction that shares the tool's words ("ugh, time zones again") sits among the reactions
    taught as needing no tool, not among the tool's requests: P(fit) falls by FIT_KNN and the
    reason says so. A later command is exempt, and requests like the tool's own examples keep their
    P(fit)."""
    from mcproute.router import tools

    specs = [
        s for s in specs_from_dicts(json.loads(REFERENCE.read_text(encoding="utf-8"))) if s.name.startswith("time__")
    ]
    own = dict(zip((s.name for s in specs), encoder.encode([tool_text(s) for s in specs]), strict=True))
    pairs = [("time__get_current_time", t) for t in ("what time is it in Tokyo", "current time in Paris")]
    pairs += [("time__convert_time", t) for t in ("convert 3pm London time to New York", "9am Berlin in Sydney time")]
    reactions = [
        "ugh, daylight saving again",
        "time flies, wow",
        "lol I always mess up time zones",
        "thanks, that time helped",
    ]
    taught = encode_tool_examples(encoder, pairs + [(NO_TOOL, t) for t in reactions], shipped={n for n, _ in pairs})
    index = ToolIndex(specs)
    index.attach_vectors(own, examples=taught.rows, shipped=taught.shipped)

    def rank(text: str):  # noqa: ANN202
        return index.rank(text, k=2, vector=encoder.encode_one(text))

    asked = "ugh, time zones again"
    after = rank(asked)
    monkeypatch.setattr(tools, "FIT_KNN", 0.0)
    before = rank(asked)
    monkeypatch.undo()
    assert after.no_tool and after.no_tool_score > before.no_tool_score + 0.2, (before.explanation, after.explanation)
    assert "taught requests nearest the step" in after.explanation
    for kept in ("what time is it in Seoul", "convert 5pm Madrid time to Chicago"):
        assert not rank(kept).no_tool, rank(kept).explanation
    # A path or URL spares only a leader that takes one (retrieval_gates.points_at); these tools
    # take neither, so a file named in the step does not exempt it.
    anchored = "ugh, time zones again: read /tmp/zones.txt"
    assert "taught requests nearest the step" in rank(anchored).explanation
    ordered = "ugh, time zones again, then get the current time in Seoul"  # a later command
    assert "taught requests nearest the step" not in rank(ordered).explanation
    # The same examples as your own (tools.examples): a handful would be outvoted by the shipped
    # no-tool requests, so the vote reads only tools with shipped examples.
    index.attach_vectors(own, examples=taught.rows)
    assert "taught requests nearest the step" not in rank(asked).explanation


@pytest.mark.anyio
async def test_the_gateway_ranks_with_the_examples_from_servers_yaml(tmp_path: Path) -> None:
    """End to end on the real time server: the examples reach the engine's tool vectors (the
    taught tool's score rises, its lead grows) and the decision names them in its policy version."""
    asked = "are people awake in Tokyo right now"
    decisions = {}
    for name, tools in (
        ("plain", {"shipped_examples": False}),
        ("taught", {"examples": TAUGHT, "shipped_examples": False}),
    ):
        servers = {"time": {**TIME_SERVER, "tools": tools}}
        async with Engine(loaded_config(tmp_path / name, servers=servers)) as engine:
            await engine.wait_settled()
            decisions[name] = await engine.route(asked, identity=ConversationIdentity(f"c-{name}", "argument"))
            taught_tools = status_report(engine)["encoder"]["tools_with_examples"]  # what GET /status shows
            assert taught_tools == (["time__get_current_time"] if "examples" in tools else [])
    scores = {k: {c.name: c.score for c in d.alternatives} for k, d in decisions.items()}
    assert decisions["taught"].tool == "time__get_current_time"
    lead = {k: s["time__get_current_time"] - s["time__convert_time"] for k, s in scores.items()}
    assert lead["taught"] > lead["plain"] + 1.0, scores
    assert "+tx-" in decisions["taught"].policy_version and "+tx-" not in decisions["plain"].policy_version


# ---------------------------------------------------------------- shipped for the reference servers

DATA = Path(__file__).parent / "data"


def _queries(name: str) -> set[str]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return {" ".join(json.loads(line)["query"].split()) for line in lines if line.strip()}


def test_the_shipped_examples_are_dev_requests_for_the_reference_tools_and_never_held_out_ones() -> None:
    catalogue = {t["name"]: t for t in json.loads(REFERENCE.read_text(encoding="utf-8"))}
    dev = set().union(*(_queries(f"everyday_dev{n}.jsonl") for n in ("", *range(2, 21))))
    held_out = _queries("everyday_holdout.jsonl") | _queries("everyday_fresh.jsonl")
    shipped = shipped_examples()
    assert set(shipped) == {"time", "git", "fetch", "memory", "filesystem"}
    for server, tools in shipped.items():
        for tool, (sha, texts) in tools.items():
            assert description_sha(catalogue[f"{server}__{tool}"]["description"]) == sha, (server, tool)
            assert texts and set(texts) <= dev, (server, tool)
            leaked = len(set(texts) & held_out)  # a count: a held-out request printed is one someone has read
            assert leaked == 0, (server, tool)
    # the requests that need no tool: the dev sets' (tool sets and no-tool sets), never held-out ones
    no_tool_dev = dev | set().union(
        *(_queries(f"everyday_{n}.jsonl") for n in ("notool_dev", "notool_dev2", "notool_dev3", "notool_dev4"))
    )
    no_tool_dev |= _queries("everyday_outside_dev.jsonl") | _queries("everyday_traps_dev.jsonl")
    none = shipped_no_tool()
    assert len(none) > 100
    assert set(none) <= no_tool_dev
    leaked = len(set(none) & held_out)
    assert leaked == 0


def test_a_reference_server_gets_the_shipped_examples_for_each_tool_you_did_not_teach() -> None:
    def in_force(tools: dict, server: dict = TIME_SERVER) -> dict[str, list[str]]:
        raw = config_dict("/tmp/x", servers={"time": {**server, "tools": tools}})
        out: dict[str, list[str]] = {}
        for name, text in tool_examples_in_force(parse_config(json.dumps(raw), environ={}).config):
            out.setdefault(name, []).append(text)
        return out

    shipped = shipped_examples()["time"]
    # with the shipped examples come the requests that need no tool, taught under NO_TOOL: those no
    # reference server serves, and those for the reference servers this config does not run
    absent = [
        t for kind in shipped_examples() if kind != "time" for _, ts in shipped_examples()[kind].values() for t in ts
    ]
    assert in_force({}) == {f"time__{tool}": list(texts) for tool, (_, texts) in shipped.items()} | {
        NO_TOOL: [*shipped_no_tool(), *absent]
    }
    yours = in_force({"examples": TAUGHT})  # yours replace ours for that tool only
    assert yours["time__get_current_time"] == TAUGHT["get_current_time"]
    assert yours["time__convert_time"] == list(shipped["convert_time"][1])
    assert in_force({"shipped_examples": False}) == {}
    assert NO_TOOL not in in_force({"examples": TAUGHT, "shipped_examples": False})  # yours alone bring none
    assert in_force({}, {"command": "uvx", "args": ["mcp-server-timeline"]}) == {}  # not a reference server
    # A tool the config withholds (`deny`, or left out of `allow`) is not served: requests for it
    # need no tool here, and its examples teach that ("commit what I have staged" with git_commit
    # denied went to git_diff_staged).
    denied = in_force({"deny": ["convert_time"]})
    assert "time__convert_time" not in denied
    assert denied[NO_TOOL] == [*shipped_no_tool(), *shipped["convert_time"][1], *absent]
    assert in_force({"allow": ["get_current_time"]}) == denied


@pytest.mark.parametrize(
    ("command", "args", "kind"),
    [
        ("npx", ["-y", "@modelcontextprotocol/server-memory@latest"], "memory"),
        ("uvx", ["mcp-server-git==0.6.2", "--repository", "."], "git"),
        ("/opt/venv/bin/mcp-server-fetch", [], "fetch"),
        # examples/reference.yaml: node and a path into the installed package (this was not
        # recognised, so its memory and filesystem tools ranked without their examples)
        ("node", ["../.peers/node_modules/@modelcontextprotocol/server-memory/dist/index.js"], "memory"),
        ("node", [r"C:\npm\node_modules\@modelcontextprotocol\server-filesystem\dist\index.js", "/tmp"], "filesystem"),
        ("node", ["/opt/my-server-memory-fork/index.js"], None),
        ("uvx", ["mcp-server-timeline"], None),
    ],
)
def test_a_reference_server_is_known_by_its_package_however_it_is_launched(
    command: str, args: list[str], kind: str | None
) -> None:
    raw = config_dict("/tmp/x", servers={"s": {"command": command, "args": args}})
    assert reference_server(parse_config(json.dumps(raw), environ={}).config.servers["s"]) == kind


def test_the_reference_config_ranks_every_server_with_its_shipped_examples() -> None:
    """examples/reference.yaml serves the five reference servers: all five get their examples, so
    what it serves is what the everyday figures measure (before, memory and filesystem got none:
    dev21 served 0.753 first picks right against 0.920 measured)."""
    config = load_config(Path(__file__).parents[1] / "examples" / "reference.yaml", environ={}).config
    assert {name: reference_server(cfg) for name, cfg in config.servers.items()} == {
        s: s for s in ("time", "git", "fetch", "memory", "filesystem")
    }
    served = {name.split("__")[0] for name in shipped_in_force(config) if name != NO_TOOL}
    assert served == {"time", "git", "fetch", "memory", "filesystem"}


def test_eval_gives_a_catalogue_tool_the_shipped_examples_only_when_it_is_that_tool() -> None:
    git_status = next(t for t in json.loads(REFERENCE.read_text(encoding="utf-8")) if t["name"] == "git__git_status")
    texts = shipped_examples()["git"]["git_status"][1]
    assert shipped_for_catalog([("git__git_status", git_status["description"])]) == [
        ("git__git_status", t) for t in texts
    ] + [(NO_TOOL, t) for t in shipped_no_tool()] + [
        (NO_TOOL, t)
        for kind in shipped_examples()  # the reference servers it lacks
        if kind != "git"
        for _, ts in shipped_examples()[kind].values()
        for t in ts
    ]
    assert shipped_for_catalog([("vcs.git_status", git_status["description"])]) != []  # another prefix: same tool
    assert shipped_for_catalog([("git__git_status", "Show the weather")]) == []  # another tool under that name
    assert shipped_for_catalog([("git__git_log", git_status["description"])]) == []  # that text, another name


@pytest.mark.anyio
async def test_the_bundled_kind_of_config_ranks_with_the_shipped_examples(tmp_path: Path) -> None:
    """On the real time server with nothing taught: the shipped examples are in force (GET
    /status lists both tools), every decision names them in its policy version, and the plain
    "what time is it" keeps the current-time tool (at the full blend weight the converter's
    examples, "what time is that in Berlin", took it: SHIPPED_BLEND)."""
    async with Engine(loaded_config(tmp_path, servers={"time": TIME_SERVER})) as engine:
        await engine.wait_settled()
        assert status_report(engine)["encoder"]["tools_with_examples"] == [
            "time__convert_time",
            "time__get_current_time",
        ]
        decision = await engine.route("what time is it in Tokyo?", identity=ConversationIdentity("c", "argument"))
    assert decision.tool == "time__get_current_time"
    assert "+tx-" in decision.policy_version


@pytest.mark.anyio
async def test_status_names_only_served_tools_among_those_with_examples(tmp_path: Path) -> None:
    """A denied tool's shipped examples never shape a vector, so GET /status does not list it."""
    servers = {"time": {**TIME_SERVER, "tools": {"deny": ["convert_time"]}}}
    async with Engine(loaded_config(tmp_path, servers=servers)) as engine:
        await engine.wait_settled()
        assert status_report(engine)["encoder"]["tools_with_examples"] == ["time__get_current_time"]


@pytest.mark.anyio
async def test_a_request_for_a_withheld_tool_gets_no_tool_and_its_sibling_keeps_its_own(tmp_path: Path) -> None:
    """servers.yaml withholds git_reset (and the other tools that write): a request to throw
    changes away went to git_diff_unstaged (P(fit) 0.59); with git_reset's examples taught as
    needing no tool here, it gets none (0.40), while asking what changed still gets the diff."""
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    git = {"command": sys.executable, "args": ["-m", "mcp_server_git", "--repository", str(repo)]}
    deny = {"deny": ["git_reset", "git_commit", "git_add", "git_checkout", "git_create_branch"]}
    ident = ConversationIdentity("c", "argument")
    servers = {"time": TIME_SERVER, "git": {**git, "tools": deny}}  # as in servers.yaml
    async with Engine(loaded_config(tmp_path, servers=servers)) as engine:
        await engine.wait_settled()
        withheld = await engine.route("throw away my local changes to app.py", identity=ident)
        sibling = await engine.route("what have I changed in app.py but not staged yet?", identity=ident)
    assert withheld.tool is None, withheld.reason
    assert sibling.tool == "git__git_diff_unstaged", sibling.reason


BUNDLED = {  # the tools servers.yaml serves: time, and git's readers
    *(f"time__{t}" for t in ("get_current_time", "convert_time")),
    *(f"git__git_{t}" for t in ("status", "diff_unstaged", "diff_staged", "diff", "log", "show", "branch")),
}


@pytest.fixture(scope="module")
def bundled(encoder) -> ReferenceIndex:  # noqa: ANN001 - mcproute.encoding.Encoder
    return ReferenceIndex(encoder, examples=True, only=BUNDLED)


@pytest.mark.parametrize(
    "text",
    [
        "what files are in src/components",
        "when was budget.xlsx last modified",
        "list the files in /home/me/git/status-page",
        "ls ./scripts",
        "find every .csv file under data",
        "show me the last 20 lines of server.log",
        "how big is server.log",
    ],
)
def test_a_request_for_a_reference_server_the_config_lacks_gets_no_tool(bundled: ReferenceIndex, text: str) -> None:
    """Without the filesystem server, listing a folder went to git_status and a file's dates to
    git_show: the absent servers' shipped examples are taught as needing no tool. "The last 20
    lines of server.log" went to git_log by the word "log": a file named by its name no longer
    spares a leader that speaks of no file from the examples' doubts."""
    ranking = bundled.rank(text)
    assert ranking.no_tool, ranking.explanation


@pytest.mark.parametrize(
    ("text", "tool"),
    [
        ("show me the last 3 commits", "git__git_log"),
        ("which files have I modified but not committed", "git__git_status"),
        ("what time is it in Tokyo?", "time__get_current_time"),
        ("what changed in the last commit", "git__git_show"),
        ("git log for src/app.py", "git__git_log"),
        ("has Friday already started over there in Auckland?", "time__get_current_time"),  # the day itself
    ],
)
def test_what_the_config_serves_still_gets_its_tool(bundled: ReferenceIndex, text: str, tool: str) -> None:
    ranking = bundled.rank(text)
    assert not ranking.no_tool and ranking.candidates[0].name == tool, ranking.explanation
