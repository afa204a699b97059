"""Step-like texts (example prompts, evaluation prompts) encoded exactly as the engine encodes a
step — `Encoder.encode_one`: up to `max_query_tokens`, head and tail kept — with the vectors kept
on disk in the encoder's SQLite cache, so a restart or a second evaluation run reads them back.

    vecs = step_vectors(encoder, texts, cache)        # (n, dim) float32, unit rows

The key is (model id + query token limit, sha256 of the text): a step vector is never confused
with a tool vector of the same text (tools are encoded up to `max_tokens`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mcproute.encoding.cache import ToolVectorCache
from mcproute.encoding.model import Encoder, default_cache_dir

CACHE_FILE = "step-vectors.sqlite3"


class _AsSteps:
    """An Encoder seen through the cache's EncoderLike protocol, encoding as steps."""

    def __init__(self, encoder: Encoder) -> None:
        self._enc = encoder
        self.model_id = f"{encoder.model_id}/step3"  # step3: paths and URLs folded (retrieval_slots.folded)
        self.dim = encoder.dim
        self.max_tokens = encoder.max_query_tokens

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i] = self._enc.encode_one(t)
        return out


def step_cache(cache_dir: str | Path | None = None) -> ToolVectorCache:
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return ToolVectorCache(directory / CACHE_FILE)


def step_vectors(encoder: Encoder, texts: Sequence[str], cache: ToolVectorCache | None = None) -> np.ndarray:
    """Unit step vectors of `texts`, from the cache where it has them."""
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    if cache is None:
        return _AsSteps(encoder).encode(texts)
    return cache.vectors(_AsSteps(encoder), texts).vectors
