"""Shape checks for the hand-written evaluation sets in tests/data (see tests/data/README.md).

These files are the yardstick for everyday tool picks and the agentic tier decision, so a broken
file (an expected tool that is not in the catalogue, a duplicated id, a lopsided class balance, a
holdout item copied from dev) must fail here rather than silently skew a reported figure. The checks
are pure functions over parsed rows; each is also run once on a deliberately broken row so that it
is shown to be able to fail.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parent / "data"
CATALOG = DATA / "catalogs" / "reference_servers.json"
SERVERS = {"time", "git", "fetch", "memory", "filesystem"}
SEPARATOR = "__"

# file -> (source it must carry, id prefix)
EVERYDAY = {
    "everyday_dev.jsonl": "everyday-dev",
    "everyday_holdout.jsonl": "everyday-holdout",
    "everyday_fresh.jsonl": "everyday-fresh",
}
AGENTIC = {
    "agentic_dev.jsonl": "agentic-dev",
    "agentic_holdout.jsonl": "agentic-holdout",
    "agentic_fresh.jsonl": "agentic-fresh",
    "agentic_dev2.jsonl": "agentic-dev2",
    "agentic_dev3.jsonl": "agentic-dev3",
    "agentic_dev4.jsonl": "agentic-dev4",
    "agentic_short_dev.jsonl": "agentic-short",
    "agentic_dev5.jsonl": "agentic-dev5",
}
MIN_TOOL_ITEMS, MIN_NO_TOOL_ITEMS, MIN_PROMPTS = 120, 40, 120
# multi-turn chat: one conversation's user turns per row, a tier label per turn
CHAT = {"chat_turns_dev.jsonl": "chat-dev", "chat_turns_holdout.jsonl": "chat-holdout"}
# `mcproute eval multiturn` over the reference servers
CONVERSATIONS = ("everyday_convs_dev.jsonl", "everyday_convs_holdout.jsonl")
MIN_CONVERSATIONS = 60
BALANCE = (0.40, 0.60)
MAX_LENGTH_AUC = 0.80  # prompt length alone must not separate reasoning from fast
# agentic_dev4 was written blind by a helper and used once, to choose between tier models; its
# reasoning prompts run long (length alone: AUC 0.87). It stays as written, because the choice it
# records is only reproducible on the file as it was, and docs/routing-tiers.md reads its figures
# with that caveat; nothing may be tuned on it. No other file gets an allowance.
LENGTH_AUC_ALLOWED = {"agentic_dev4.jsonl": 0.88}
NEAR_DUPLICATE = 0.80  # token Jaccard between a dev and a holdout item


def read_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        assert line.strip(), f"{path.name}:{n}: blank line"
        row = json.loads(line)
        assert isinstance(row, dict), f"{path.name}:{n}: not a JSON object"
        rows.append(row)
    return rows


def catalogue_problems(tools: Any, servers: frozenset[str] | set[str] = SERVERS) -> list[str]:
    if not isinstance(tools, list):
        return ["catalogue is not a plain list"]
    problems, seen = [], set()
    for i, t in enumerate(tools):
        where = f"catalogue[{i}]"
        if not (isinstance(t, dict) and {"name", "description", "input_schema", "server"} <= t.keys()):
            problems.append(f"{where}: needs name, description, input_schema, server")
            continue
        if not t["name"].startswith(t["server"] + SEPARATOR):
            problems.append(f"{where}: {t['name']!r} is not namespaced as {t['server']}{SEPARATOR}<tool>")
        if not (isinstance(t["input_schema"], dict) and t["input_schema"].get("type") == "object"):
            problems.append(f"{where}: input_schema is not an object schema")
        if not t["description"].strip():
            problems.append(f"{where}: empty description")
        if t["name"] in seen:
            problems.append(f"{where}: duplicate name {t['name']!r}")
        seen.add(t["name"])
    missing = set(servers) - {t.get("server") for t in tools if isinstance(t, dict)}
    if missing:
        problems.append(f"catalogue lacks servers {sorted(missing)}")
    return problems


def everyday_problems(
    rows: list[dict[str, Any]],
    source: str,
    names: set[str],
    catalog: str = "catalogs/reference_servers.json",
    minimum: tuple[int, int] = (MIN_TOOL_ITEMS, MIN_NO_TOOL_ITEMS),
) -> list[str]:
    problems = []
    for r in rows:
        where = f"{r.get('id')!r}"
        if set(r) != {"id", "source", "category", "query", "catalog", "expected"}:
            problems.append(f"{where}: keys {sorted(r)}")
            continue
        if r["source"] != source:
            problems.append(f"{where}: source {r['source']!r}, want {source!r}")
        if r["catalog"] != catalog:
            problems.append(f"{where}: catalog {r['catalog']!r}")
        if not (isinstance(r["query"], str) and r["query"].strip()) or not r["category"]:
            problems.append(f"{where}: empty query or category")
        exp = r["expected"]
        if not isinstance(exp, list) or len(exp) != len(set(exp)):
            problems.append(f"{where}: expected must be a list without repeats")
            continue
        problems += [f"{where}: expected tool {e!r} is not in the catalogue" for e in exp if e not in names]
        if (r["category"] == "no_tool") != (exp == []):
            problems.append(f"{where}: category no_tool iff expected is []")
    problems += id_problems(rows)
    n_tool = sum(1 for r in rows if r.get("expected"))
    if n_tool < minimum[0]:
        problems.append(f"only {n_tool} tool items (< {minimum[0]})")
    if len(rows) - n_tool < minimum[1]:
        problems.append(f"only {len(rows) - n_tool} no-tool items (< {minimum[1]})")
    return problems


def _shaped(r: dict[str, Any], keys: set[str], source: str, problems: list[str]) -> bool:
    """The row has exactly `keys` (else it is not checked further) and carries `source`."""
    where = f"{r.get('id')!r}"
    if set(r) != keys:
        problems.append(f"{where}: keys {sorted(r)}")
        return False
    if r["source"] != source:
        problems.append(f"{where}: source {r['source']!r}, want {source!r}")
    return True


def agentic_problems(rows: list[dict[str, Any]], source: str, max_length_auc: float = MAX_LENGTH_AUC) -> list[str]:
    problems = []
    for r in rows:
        where = f"{r.get('id')!r}"
        if not _shaped(r, {"id", "source", "category", "prompt", "needs_reasoning"}, source, problems):
            continue
        if not isinstance(r["needs_reasoning"], bool):
            problems.append(f"{where}: needs_reasoning must be a bool")
        if not (isinstance(r["prompt"], str) and r["prompt"].strip()) or not r["category"]:
            problems.append(f"{where}: empty prompt or category")
    problems += id_problems(rows)
    if len(rows) < MIN_PROMPTS:
        problems.append(f"only {len(rows)} prompts (< {MIN_PROMPTS})")
    pos = [r for r in rows if r.get("needs_reasoning") is True]
    share = len(pos) / len(rows) if rows else 0.0
    if not BALANCE[0] <= share <= BALANCE[1]:
        problems.append(f"reasoning share {share:.2f} outside {BALANCE}")
    auc = length_auc(rows)
    if auc > max_length_auc:
        problems.append(f"prompt length alone separates the classes (AUC {auc:.2f} > {max_length_auc})")
    return problems


def chat_problems(rows: list[dict[str, Any]], source: str) -> list[str]:
    """Multi-turn chat sets: each row one conversation's user turns, a label per turn."""
    problems = []
    for r in rows:
        where = f"{r.get('id')!r}"
        if not _shaped(r, {"id", "source", "category", "turns", "needs_reasoning"}, source, problems):
            continue
        turns, labels = r["turns"], r["needs_reasoning"]
        if not (isinstance(turns, list) and len(turns) >= 2 and all(isinstance(t, str) and t.strip() for t in turns)):
            problems.append(f"{where}: turns must be two or more non-empty strings")
        elif not (isinstance(labels, list) and len(labels) == len(turns) and all(isinstance(v, bool) for v in labels)):
            problems.append(f"{where}: needs_reasoning must be one bool per turn")
    problems += id_problems(rows)
    if len(rows) < MIN_CONVERSATIONS:
        problems.append(f"only {len(rows)} conversations (< {MIN_CONVERSATIONS})")
    follow = [v for r in rows if isinstance(r.get("needs_reasoning"), list) for v in r["needs_reasoning"][1:]]
    share = sum(1 for v in follow if v is True) / len(follow) if follow else 0.0
    if not BALANCE[0] <= share <= BALANCE[1]:
        problems.append(f"reasoning share of follow-up turns {share:.2f} outside {BALANCE}")
    return problems


def conversation_problems(rows: list[dict[str, Any]], names: set[str]) -> list[str]:
    """Everyday conversations: each row one conversation over the reference servers, every tool
    available, each turn's user text and the tools that are a fine first call (none: no tool)."""
    problems = []
    for r in rows:
        where = f"{r.get('id')!r}"
        if not _shaped(r, {"id", "source", "catalog", "tools", "turns"}, "everyday-convs", problems):
            continue
        if r["catalog"] != "catalogs/reference_servers.json" or set(r["tools"]) != names:
            problems.append(f"{where}: must offer every reference tool")
        turns = r["turns"]
        if not (isinstance(turns, list) and 3 <= len(turns) <= 5):
            problems.append(f"{where}: 3 to 5 turns")
            continue
        for i, t in enumerate(turns):
            if not (isinstance(t, dict) and set(t) == {"user", "expected_tools"} and str(t["user"]).strip()):
                problems.append(f"{where} turn {i}: needs 'user' text and 'expected_tools'")
            elif not set(t["expected_tools"]) <= names:
                problems.append(f"{where} turn {i}: unknown tools {sorted(set(t['expected_tools']) - names)}")
    problems += id_problems(rows)
    if len(rows) < MIN_CONVERSATIONS:
        problems.append(f"only {len(rows)} conversations (< {MIN_CONVERSATIONS})")
    return problems


def id_problems(rows: list[dict[str, Any]]) -> list[str]:
    ids = [r.get("id") for r in rows]
    dup = sorted({i for i in ids if ids.count(i) > 1}, key=str)
    return [f"duplicate ids {dup}"] if dup else []


def length_auc(rows: list[dict[str, Any]]) -> float:
    """AUC of 'the longer prompt is the reasoning one' (0.5 = length says nothing)."""
    pos = [len(r["prompt"]) for r in rows if r.get("needs_reasoning") is True]
    neg = [len(r["prompt"]) for r in rows if r.get("needs_reasoning") is False]
    if not pos or not neg:
        return 1.0
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def tokens(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"[a-z0-9]+", text.lower()))


def near_duplicates(dev: list[str], holdout: list[str]) -> list[tuple[str, str]]:
    """Holdout texts that copy or barely reword a dev text (the holdout must be written independently)."""
    dev_toks = [(d, tokens(d)) for d in dev]
    hits = []
    for h in holdout:
        th = tokens(h)
        for d, td in dev_toks:
            same = " ".join(d.lower().split()) == " ".join(h.lower().split())
            if same or (min(len(th), len(td)) >= 3 and len(th & td) / len(th | td) >= NEAR_DUPLICATE):
                hits.append((d, h))
    return hits


@pytest.fixture(scope="module")
def catalogue() -> list[dict[str, Any]]:
    return json.loads(CATALOG.read_text(encoding="utf-8"))


def test_reference_catalogue_is_a_namespaced_plain_list(catalogue: list[dict[str, Any]]) -> None:
    assert catalogue_problems(catalogue) == []
    assert len(catalogue) >= 38  # time 2, git 12, fetch 1, memory 9, filesystem 14 as dumped


@pytest.mark.parametrize("name", sorted(EVERYDAY))
def test_everyday_set(name: str, catalogue: list[dict[str, Any]]) -> None:
    path = DATA / name
    rows = read_rows(path)
    assert all((path.parent / r["catalog"]).resolve() == CATALOG.resolve() for r in rows)
    assert everyday_problems(rows, EVERYDAY[name], {t["name"] for t in catalogue}) == []


# Sets of other kinds and later dev sets, smaller than the first ones: (file, source, catalogue,
# the server its catalogue must hold, (tool items, no-tool items) at least).
OTHER_SETS = [
    ("agent_airline.jsonl", "agent-airline", "catalogs/airline_tools.json", "airline", (90, 20)),
    ("agent_retail.jsonl", "agent-retail", "catalogs/retail_tools.json", "retail", (90, 20)),
    # written in the thirteenth session as dev sets for catalogues of close siblings
    ("agent_bank_dev.jsonl", "agent-bank", "catalogs/bank_tools.json", "bank", (90, 20)),
    ("agent_delivery_dev.jsonl", "agent-delivery", "catalogs/delivery_tools.json", "delivery", (90, 20)),
    # ... and two held out, read once at the session's end (never tuned on)
    ("agent_hotel_holdout.jsonl", "agent-hotel", "catalogs/hotel_tools.json", "hotel", (90, 20)),
    ("agent_helpdesk_holdout.jsonl", "agent-helpdesk", "catalogs/helpdesk_tools.json", "helpdesk", (90, 20)),
    *(
        (f"everyday_dev{n}.jsonl", "everyday-dev", "catalogs/reference_servers.json", "time", (80, 25))
        for n in (*range(11, 17), 21, 22)
    ),
]


@pytest.mark.parametrize(("name", "source", "catalog", "server", "minimum"), OTHER_SETS)
def test_other_set(name: str, source: str, catalog: str, server: str, minimum: tuple[int, int]) -> None:
    tools = json.loads((DATA / catalog).read_text(encoding="utf-8"))
    assert catalogue_problems(tools, {server}) == []
    rows = read_rows(DATA / name)
    assert everyday_problems(rows, source, {t["name"] for t in tools}, catalog, minimum) == []


@pytest.mark.parametrize("name", sorted(AGENTIC))
def test_agentic_set(name: str) -> None:
    limit = LENGTH_AUC_ALLOWED.get(name, MAX_LENGTH_AUC)
    assert agentic_problems(read_rows(DATA / name), AGENTIC[name], limit) == []


@pytest.mark.parametrize("name", sorted(CHAT))
def test_chat_set(name: str) -> None:
    assert chat_problems(read_rows(DATA / name), CHAT[name]) == []


@pytest.mark.parametrize("name", CONVERSATIONS)
def test_conversation_set(name: str) -> None:
    names = {t["name"] for t in json.loads(CATALOG.read_text(encoding="utf-8"))}
    assert conversation_problems(read_rows(DATA / name), names) == []


def test_conversation_holdout_is_not_a_rewording_of_dev() -> None:
    dev = [t["user"] for r in read_rows(DATA / CONVERSATIONS[0]) for t in r["turns"]]
    held = [t["user"] for r in read_rows(DATA / CONVERSATIONS[1]) for t in r["turns"]]
    close = [d for d, _ in near_duplicates(dev, held)]  # only the dev side is shown, as below
    assert close == [], f"{len(close)} everyday_convs_dev turn(s) too close to the holdout: {close}"


def test_chat_holdout_is_not_a_rewording_of_dev() -> None:
    dev = [t for r in read_rows(DATA / "chat_turns_dev.jsonl") for t in r["turns"]]
    held = [t for r in read_rows(DATA / "chat_turns_holdout.jsonl") for t in r["turns"]]
    close = [d for d, _ in near_duplicates(dev, held)]  # only the dev side is shown, as below
    assert close == [], f"{len(close)} chat_turns_dev turn(s) too close to the holdout: {close}"


def test_ids_are_unique_across_all_sets() -> None:
    ids = [r["id"] for f in (*EVERYDAY, *AGENTIC, *CHAT, *(o[0] for o in OTHER_SETS)) for r in read_rows(DATA / f)]
    assert len(ids) == len(set(ids))


# Dev sets written after the first pair, each checked against both held-out sets: dev3 ships as tool
# examples, the rules were tuned on the notool sets, dev6-10 and agentic_dev2-4 were written by helpers.
HELD = ("holdout", "fresh")
# Not everyday_notool_dev: one of its 60 requests (a stock phrase, en-036) is word for
# word a held-out one; the no-tool model was fitted on it, so it stays as it is and is kept out of
# the shipped no-tool examples instead (scripts/build_tool_examples.py).
LATER_EVERYDAY_DEV = (
    "dev3",
    "dev4",
    "traps_dev",
    "outside_dev",
    "dev5",
    "notool_dev2",
    "notool_dev3",
    "notool_dev4",
    "dev6",
    "dev7",
    "dev8",
    "dev9",
    "dev10",
    "dev11",
    "dev12",
    "dev13",
    "dev14",
    "dev15",
    "dev16",
    "dev17",
    "dev18",
    "dev19",
    "dev20",
    "dev21",
    "dev22",
)
LATER_AGENTIC_DEV = ("dev2", "dev3", "dev4", "short_dev")


# The fresh sets were written by a second author without reading dev or holdout, so they must not
# reword either of them.
@pytest.mark.parametrize(
    ("dev", "holdout", "key"),
    [
        ("everyday_dev.jsonl", "everyday_holdout.jsonl", "query"),
        ("agentic_dev.jsonl", "agentic_holdout.jsonl", "prompt"),
        ("everyday_dev.jsonl", "everyday_fresh.jsonl", "query"),
        ("everyday_holdout.jsonl", "everyday_fresh.jsonl", "query"),
        ("agentic_dev.jsonl", "agentic_fresh.jsonl", "prompt"),
        ("agentic_holdout.jsonl", "agentic_fresh.jsonl", "prompt"),
        # every later dev set, against both held-out sets of its kind
        *((f"everyday_{dev}.jsonl", f"everyday_{held}.jsonl", "query") for dev in LATER_EVERYDAY_DEV for held in HELD),
        *((f"agentic_{dev}.jsonl", f"agentic_{held}.jsonl", "prompt") for dev in LATER_AGENTIC_DEV for held in HELD),
    ],
)
def test_holdout_is_not_a_rewording_of_dev(dev: str, holdout: str, key: str) -> None:
    dev_texts = [r[key] for r in read_rows(DATA / dev)]
    holdout_texts = [r[key] for r in read_rows(DATA / holdout)]
    # On failure only the dev side is shown: a held-out item printed in a test log is a held-out
    # item someone has read.
    close = [d for d, _ in near_duplicates(dev_texts, holdout_texts)]
    assert close == [], f"{len(close)} {dev} item(s) too close to {holdout}: {close}"


# The checks above must be able to fail: each broken input below is caught.


def test_checks_catch_broken_everyday_rows(catalogue: list[dict[str, Any]]) -> None:
    names = {t["name"] for t in catalogue}
    good = read_rows(DATA / "everyday_dev.jsonl")
    assert everyday_problems(good, "everyday-dev", names) == []
    unknown = [dict(good[0], expected=["time__get_time_now"]), *good[1:]]
    assert any("time__get_time_now" in p for p in everyday_problems(unknown, "everyday-dev", names))
    dup = [*good, dict(good[1])]
    assert any("duplicate ids" in p for p in everyday_problems(dup, "everyday-dev", names))
    few = [r for r in good if not r["expected"]][:5] + [r for r in good if r["expected"]]
    assert any("no-tool items" in p for p in everyday_problems(few, "everyday-dev", names))
    mislabelled = [dict(good[0], category="no_tool"), *good[1:]]
    assert any("no_tool iff" in p for p in everyday_problems(mislabelled, "everyday-dev", names))


def test_checks_catch_broken_agentic_rows() -> None:
    good = read_rows(DATA / "agentic_dev.jsonl")
    lopsided = [r for r in good if r["needs_reasoning"]] + [r for r in good if not r["needs_reasoning"]][:30]
    assert any("reasoning share" in p for p in agentic_problems(lopsided, "agentic-dev"))
    by_length = [dict(r, prompt=("x" * 500 if r["needs_reasoning"] else "y")) for r in good]
    assert any("prompt length alone" in p for p in agentic_problems(by_length, "agentic-dev"))
    stringly = [dict(good[0], needs_reasoning="yes"), *good[1:]]
    assert any("must be a bool" in p for p in agentic_problems(stringly, "agentic-dev"))


def test_checks_catch_broken_chat_rows() -> None:
    good = {"id": "c1", "source": "s", "category": "x", "turns": ["a", "b"], "needs_reasoning": [True, False]}
    rows = [dict(good, id=f"c{i}", needs_reasoning=[True, i % 2 == 0]) for i in range(MIN_CONVERSATIONS)]
    assert chat_problems(rows, "s") == []
    assert any(
        "one bool per turn" in p for p in chat_problems([*rows, dict(good, id="x", needs_reasoning=[True])], "s")
    )
    assert any("two or more" in p for p in chat_problems([*rows, dict(good, id="y", turns=["a"])], "s"))
    assert any(
        "follow-up turns" in p for p in chat_problems([dict(r, needs_reasoning=[True, True]) for r in rows], "s")
    )
    assert any("conversations" in p for p in chat_problems(rows[:5], "s"))


def test_checks_catch_broken_conversation_rows() -> None:
    names = {"t__a", "t__b"}
    turn = {"user": "do a", "expected_tools": ["t__a"]}
    good = {"id": "v", "source": "everyday-convs", "catalog": "catalogs/reference_servers.json", "tools": sorted(names)}
    rows = [dict(good, id=f"v{i}", turns=[turn, turn, dict(turn, expected_tools=[])]) for i in range(MIN_CONVERSATIONS)]
    assert conversation_problems(rows, names) == []
    assert any("3 to 5" in p for p in conversation_problems([*rows, dict(good, id="x", turns=[turn])], names))
    unknown = dict(good, id="y", turns=[turn, turn, dict(turn, expected_tools=["t__z"])])
    assert any("unknown tools" in p for p in conversation_problems([*rows, unknown], names))
    assert any(
        "every reference tool" in p for p in conversation_problems([*rows, dict(rows[0], id="z", tools=[])], names)
    )
    assert any("conversations" in p for p in conversation_problems(rows[:5], names))


def test_checks_catch_a_bad_catalogue_and_a_copied_holdout(catalogue: list[dict[str, Any]]) -> None:
    assert catalogue_problems({"time": catalogue}) == ["catalogue is not a plain list"]
    assert any(
        "not namespaced" in p for p in catalogue_problems([dict(catalogue[0], name="get_current_time"), *catalogue[1:]])
    )
    assert any("duplicate name" in p for p in catalogue_problems([*catalogue, catalogue[0]]))
    assert near_duplicates(["show me the last 3 commits"], ["Show me the last 3 commits!"]) != []
    assert near_duplicates(["show me the last 3 commits"], ["make a folder named reports"]) == []
