"""A plain numpy fp32 forward pass of all-MiniLM-L6-v2 (BERT + mean pooling + L2), written from the
model's published architecture independently of `mcproute.encoding.graph`, to check the ONNX graph
and its int8 quantisation against. float64 arithmetic, exact erf GELU."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

_erf = np.frompyfunc(math.erf, 1, 1)


def _ln(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g + b


def forward(
    w: Mapping[str, np.ndarray], ids: Sequence[int], *, layers: int = 6, heads: int = 12, eps: float = 1e-12
) -> np.ndarray:
    n = len(ids)
    x = (
        w["embeddings.word_embeddings.weight"][list(ids)]
        + w["embeddings.position_embeddings.weight"][:n]
        + w["embeddings.token_type_embeddings.weight"][0]
    ).astype(np.float64)
    x = _ln(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    hidden = x.shape[1]
    d = hidden // heads
    for i in range(layers):
        p = f"encoder.layer.{i}."

        def lin(h: np.ndarray, name: str, p: str = p) -> np.ndarray:
            return h @ w[p + name + ".weight"].T.astype(np.float64) + w[p + name + ".bias"]

        q, k, v = (
            lin(x, f"attention.self.{m}").reshape(n, heads, d).transpose(1, 0, 2) for m in ("query", "key", "value")
        )
        s = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        a = (s @ v).transpose(1, 0, 2).reshape(n, hidden)
        x = _ln(
            lin(a, "attention.output.dense") + x,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
            eps,
        )
        h = lin(x, "intermediate.dense")
        h = 0.5 * h * (1.0 + _erf(h / math.sqrt(2.0)).astype(np.float64))
        x = _ln(lin(h, "output.dense") + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
    v = x.mean(0)
    return (v / np.linalg.norm(v)).astype(np.float32)
