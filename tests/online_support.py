"""Synthetic step vectors for the online learners' tests: unit vectors around a few centres (the
learners only ever compare vectors, so a 16-dim space stands for the encoder's 384)."""

from __future__ import annotations

import numpy as np

DIM = 16


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def near(centre: np.ndarray, rng: np.random.Generator, noise: float = 0.15) -> np.ndarray:
    return unit(centre + noise * rng.standard_normal(DIM))


def make_centres(n: int = 3, seed: int = 7) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [unit(rng.standard_normal(DIM)) for _ in range(n)]
