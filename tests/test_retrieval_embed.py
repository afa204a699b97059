"""Static embeddings for tool retrieval: WordPiece tokenizer, embedder, and the index's semantic channel."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mcproute.router.retrieval_embed import StaticEmbedder, WordPiece, tool_text
from mcproute.router.retrieval_params import FEATURES, RetrievalParams
from mcproute.router.step import ToolSpec
from mcproute.router.tools import RetrievalContext, ToolIndex

# Written by scripts/build_static_embeddings.py --expected from the real BertTokenizerFast of
# all-MiniLM-L6-v2 (transformers, in the throwaway build venv).
EXPECTED = json.loads((Path(__file__).parent / "data" / "wordpiece_expected.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def emb() -> StaticEmbedder:
    e = StaticEmbedder.shipped()
    assert e is not None, "src/mcproute/data/static_embeddings.npz is missing"
    return e


@pytest.mark.parametrize("case", EXPECTED, ids=[repr(c["text"][:24]) for c in EXPECTED])
def test_wordpiece_matches_the_real_bert_tokenizer(emb: StaticEmbedder, case: dict) -> None:
    assert emb.tokenizer.tokenize(case["text"]) == case["tokens"]
    assert emb.tokenizer.ids(case["text"]) == case["ids"]
    assert emb.tokenizer.ids(case["text"]) == case["ids"]  # the second time from the word cache


def test_wordpiece_greedy_longest_match_and_unknown_words() -> None:
    wp = WordPiece(["[PAD]", "[UNK]", "un", "##aff", "##able", "aff", "##a", "runn", "##ing", ",", "a"])
    assert wp.tokenize("unaffable") == ["un", "##aff", "##able"]
    assert wp.tokenize("Running, UNAFFABLE!") == ["runn", "##ing", ",", "un", "##aff", "##able", "[UNK]"]
    assert wp.tokenize("unx") == ["[UNK]"]  # one unmatchable piece makes the whole word unknown
    assert wp.tokenize("a" * 101) == ["[UNK]"]  # longer than BERT's 100-character limit
    assert wp.tokenize("") == [] and wp.tokenize(" \t\n") == []


def test_embeddings_are_unit_vectors_or_zero(emb: StaticEmbedder) -> None:
    v = emb.embed("What's the weather in Paris?")
    assert v.shape == (emb.dims,) and abs(float(np.linalg.norm(v)) - 1.0) < 1e-5
    assert not emb.embed("").any()
    assert not emb.embed("[PAD] [CLS]").any() or abs(float(np.linalg.norm(emb.embed("[PAD] [CLS]"))) - 1.0) < 1e-5


def test_embeddings_carry_meaning_beyond_shared_words(emb: StaticEmbedder) -> None:
    # No word in common between the query and either tool text.
    q = emb.embed("is it going to rain in Oslo tomorrow")
    weather = emb.embed(tool_text("getForecast", "Temperature and precipitation outlook for a city.", []))
    git = emb.embed(tool_text("git_commit", "Record changes to the repository.", []))
    assert float(q @ weather) > float(q @ git) + 0.1


def test_tool_text_uses_name_words_description_and_parameters() -> None:
    assert (
        tool_text("getCurrentWeather", "Weather now.", ["city_name"]) == "get current weather. Weather now. city name"
    )
    assert tool_text("send_email", "", []) == "send email."


WEATHER = ToolSpec("getForecast", "Temperature and precipitation outlook for a city.", {}, "weather")
GIT = ToolSpec("git_commit", "Record changes to the repository.", {}, "git")
MAIL = ToolSpec("send_email", "", {}, "mail")  # no description: its name words are its text


def test_semantic_channel_finds_a_tool_that_shares_no_word() -> None:
    text = "is it going to rain in Oslo"
    lexical = ToolIndex([WEATHER, GIT, MAIL], params=RetrievalParams(embeddings="off"))
    assert lexical.rank(text).candidates == ()  # nothing in common: BM25 alone has no pool
    semantic = ToolIndex([WEATHER, GIT, MAIL])
    r = semantic.rank(text)
    assert r.candidates and r.candidates[0].name == "getForecast"
    # Ranked by meaning, but with no shared term the router does not trust it.
    assert r.no_tool and "closest in meaning: getForecast" in r.explanation
    r2 = semantic.rank("will it rain in Oslo? I need the precipitation outlook")
    assert r2.candidates[0].name == "getForecast" and "meaning" in r2.explanation


def test_tools_without_descriptions_and_foreign_text() -> None:
    index = ToolIndex([WEATHER, GIT, MAIL])
    assert index.rank("write an e-mail message to Alice").candidates[0].name == "send_email"
    for text in ("Wie wird das Wetter morgen?", "明天会下雨吗", "погода завтра", "🙂🙂", "???", ""):
        r = index.rank(text)  # must not crash; any answer is a valid ranking
        assert isinstance(r.no_tool, bool) and 0.0 <= r.no_tool_score <= 1.0
        assert len({c.name for c in r.candidates}) == len(r.candidates)


def test_update_moves_the_vectors_with_the_tools() -> None:
    index = ToolIndex([WEATHER, GIT])
    index.update("git", [])
    for _ in range(20):  # grow past the vector table's first capacity
        index.update("mail", [MAIL, ToolSpec("read_inbox", "List unread messages.")])
    ranked = [c.name for c in index.rank("commit my changes to the repo").candidates]
    assert "git_commit" not in ranked
    assert [c.name for c in index.rank("check my unread mail").candidates][0] in ("read_inbox", "send_email")
    assert sorted(index.names) == ["getForecast", "read_inbox", "send_email"]


def test_history_embedding_is_a_feature() -> None:
    # Its weight is learned (BFCL conversations often move on to another tool), so only check
    # that the earlier texts' meaning reaches the reranker.
    index = ToolIndex([WEATHER, GIT, MAIL])
    ctx = RetrievalContext(recent_texts=("will it rain in Oslo tomorrow?",))
    pool, x, _ = index.features("and the day after?", ctx)
    _, x0, _ = index.features("and the day after?")
    col = FEATURES.index("hist_cos")
    assert pool and x[:, col].any() and not x0[:, col].any()


def test_a_table_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        StaticEmbedder(np.zeros((3, 4), dtype=np.float32), ["a", "b"])


def test_tool_vectors_mask_removed_and_unset_slots(emb: StaticEmbedder) -> None:
    from mcproute.router.retrieval_embed import ToolVectors

    tv = ToolVectors(emb)
    tv.set(0, "weather forecast")
    tv.set(3, "send an email")  # slots 1 and 2 never set
    qv = emb.embed("weather tomorrow")
    cos = tv.cosines(qv, 6)
    assert cos.shape == (6,) and cos[0] > 0.3 and list(cos[[1, 2, 4, 5]]) == [-1.0] * 4
    tv.remove(0)
    assert tv.cosines(qv, 6)[0] == -1.0
    tv.set(1, "weather forecast")
    assert tv.cosines(qv, 6)[1] > 0.3 and tv.cosines(qv, 6)[2] == -1.0
