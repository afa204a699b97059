"""Online learners (router/online_memory.py, online_tier.py; the tool learner is in
test_online_tools.py): bounded, start static, switch on only when they help, and round-trip through
their compact form. Vectors are synthetic unit vectors around a few centres: the learners only ever
see vectors, so this exercises the same arithmetic as encoder output."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from mcproute.router.online_memory import VectorMemory
from mcproute.router.online_tier import TierLearner, TierLearning
from online_support import DIM, make_centres, near


@pytest.fixture
def centres() -> list[np.ndarray]:
    return make_centres()


def test_memory_is_bounded_and_forgets_the_oldest(centres: list[np.ndarray]) -> None:
    mem = VectorMemory.empty(DIM, capacity=3)
    for i in range(5):
        mem = mem.add(centres[i % 3] * 2.0, f"t{i}")  # not unit: stored normalised
    assert len(mem) == 3 and mem.labels == ("t2", "t3", "t4")
    assert np.allclose(np.linalg.norm(mem.vectors, axis=1), 1.0, atol=1e-5)
    back = VectorMemory.from_dict(json.loads(json.dumps(mem.to_dict())))
    assert back.labels == mem.labels and back.capacity == 3
    assert np.allclose(back.vectors, mem.vectors, atol=0.02)  # int8 storage


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d.update(vectors_int8="!!"), "malformed"),
        (lambda d: d.update(labels=d["labels"] + ["x"]), "vector bytes"),
        (lambda d: d.update(capacity=10**9), "out of bounds"),
    ],
)
def test_memory_from_bad_dict_names_the_problem(centres: list[np.ndarray], mutate, needle: str) -> None:  # type: ignore[no-untyped-def]
    d = VectorMemory.empty(DIM).add(centres[0], "a").to_dict()
    mutate(d)
    with pytest.raises(ValueError, match=needle):
        VectorMemory.from_dict(d, "tier memory")


def test_memory_refuses_wrong_size_or_zero_vectors() -> None:
    mem = VectorMemory.empty(DIM)
    with pytest.raises(ValueError, match="16 entries"):
        mem.add(np.ones(3), "a")
    with pytest.raises(ValueError, match="non-zero"):
        mem.add(np.zeros(DIM), "a")


def test_tier_learner_starts_static_and_corrects_toward_revealed_gains(centres: list[np.ndarray]) -> None:
    rng = np.random.default_rng(1)
    learner = TierLearner.start(DIM, TierLearning(k=16, prior_weight=2.0, weight=40.0, cap=3.0))
    probe_hard, probe_easy = near(centres[0], rng), near(centres[1], rng)
    assert learner.adjust(0.4, probe_hard) == 0.4  # nothing revealed: the static score
    for i in range(60):  # the strong tier gains on centre 0 and never on centre 1
        c = i % 2
        learner = learner.learn(near(centres[c], rng), 1.0 if c == 0 else 0.0)
    assert learner.active
    up, down = learner.correction(probe_hard), learner.correction(probe_easy)
    assert up > 0.5 and down < -0.5
    assert abs(up) <= 3.0 and abs(down) <= 3.0  # the cap
    assert learner.adjust(0.4, probe_hard) > 0.4 > learner.adjust(0.4, probe_easy)
    assert learner.adjust(1.0, probe_easy) == 1.0  # an override is never moved
    assert learner.adjust(0.4, None) == 0.4


def test_tier_learner_stays_off_when_neighbours_do_not_predict_outcomes(centres: list[np.ndarray]) -> None:
    rng = np.random.default_rng(2)
    coin = random.Random(3)
    learner = TierLearner.start(DIM)
    for i in range(400):
        learner = learner.learn(near(centres[i % 3], rng), float(coin.random() < 0.3))
    assert not learner.active
    assert learner.correction(near(centres[0], rng)) == 0.0


def test_tier_learner_bounds_and_bad_gains(centres: list[np.ndarray]) -> None:
    p = TierLearning()
    assert 0.0 < p.max_update_effect() <= 2 * p.cap
    learner = TierLearner.start(DIM, TierLearning(capacity=5))
    for _ in range(9):
        learner = learner.learn(centres[0], 1.0)
    assert len(learner.memory) == 5 and learner.revealed == 9
    for bad in (1.5, -2.0, math.nan):
        with pytest.raises(ValueError, match=r"within \[-1, 1\]"):
            learner.learn(centres[0], bad)
    with pytest.raises(ValueError, match="cap within"):
        TierLearning(cap=100.0)


def test_tier_learner_round_trips(centres: list[np.ndarray]) -> None:
    rng = np.random.default_rng(4)
    learner = TierLearner.start(DIM, TierLearning(k=8, prior_weight=2.0))
    for i in range(40):
        learner = learner.learn(near(centres[i % 2], rng), float(i % 2 == 0))
    back = TierLearner.from_dict(json.loads(json.dumps(learner.to_dict())))
    assert back.params == learner.params and back.revealed == 40 and back.active == learner.active
    probe = near(centres[0], rng)
    assert back.correction(probe) == pytest.approx(learner.correction(probe), abs=0.05)
    bad = learner.to_dict()
    bad["memory"]["labels"][0] = 3.0
    with pytest.raises(ValueError, match="outside"):
        TierLearner.from_dict(bad)
