"""Static sentence embeddings for tool retrieval: a BERT WordPiece tokenizer and a token table.

The table (`mcproute/data/static_embeddings.npz`) is all-MiniLM-L6-v2 distilled into one vector per
WordPiece token (scripts/build_static_embeddings.py, run once in a throwaway venv with torch). At
run time a text's vector is the weighted mean of its tokens' vectors, L2-normalised: numpy only,
no torch, a few microseconds per short text.

The tokenizer reproduces `BertTokenizer(do_lower_case=True)` of the model: clean the text
(drop control characters, map whitespace to spaces), put spaces around CJK ideographs, lower-case,
strip accents (NFD, drop combining marks), split off punctuation, then greedy longest-match-first
WordPiece with '##' continuations; a word with an unmatchable piece becomes `[UNK]`. Words are
cached (an LRU dict), so a steady stream of steps tokenises mostly by dictionary look-up.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from mcproute.router.retrieval_text import split_identifier

_BERT_SPACE = re.compile(r"[ \t\n\r\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_ASCII_PIECES = re.compile(r"[a-z0-9]+|[!-/:-@\[-`{-~]")
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MAX_WORD_CHARS = 100
_CACHE_WORDS = 50_000


def _is_cjk(cp: int) -> bool:
    # The ranges BERT's BasicTokenizer treats as CJK ideographs (not kana or hangul).
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def _is_punct(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_control(ch: str) -> bool:
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf", "Cn", "Co", "Cs") or ord(ch) == 0xFFFD


def _basic_words(chunk: str) -> list[str]:
    """BERT's basic tokenisation of one whitespace-free chunk (uncased)."""
    if chunk.isascii():
        return _ASCII_PIECES.findall(_ASCII_CONTROL.sub("", chunk).lower())
    out: list[str] = []
    cur: list[str] = []

    def flush() -> None:
        if cur:
            out.append("".join(cur))
            cur.clear()

    text = "".join(ch for ch in chunk if not _is_control(ch))
    text = unicodedata.normalize("NFD", text.lower())
    for ch in text:
        if unicodedata.category(ch) == "Mn":
            continue
        if _is_cjk(ord(ch)) or _is_punct(ch):
            flush()
            out.append(ch)
        elif unicodedata.category(ch) == "Zs" or ch in "\t\n\r":
            flush()
        else:
            cur.append(ch)
    flush()
    return out


class WordPiece:
    """`BertTokenizer(do_lower_case=True)`'s `tokenize` / ids, with a per-chunk LRU cache."""

    def __init__(self, vocab: Sequence[str], unk: str = "[UNK]") -> None:
        self.vocab: dict[str, int] = {t: i for i, t in enumerate(vocab)}
        self.tokens = list(vocab)
        self.unk_id = self.vocab[unk]
        self._cache: OrderedDict[str, tuple[int, ...]] = OrderedDict()

    def _word_ids(self, word: str) -> list[int]:
        if len(word) > _MAX_WORD_CHARS:
            return [self.unk_id]
        vocab = self.vocab
        hit = vocab.get(word)
        if hit is not None:
            return [hit]
        ids: list[int] = []
        start, n = 0, len(word)
        while start < n:
            end = n
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = vocab.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return [self.unk_id]
            ids.append(found)
            start = end
        return ids

    def _chunk_ids(self, chunk: str) -> tuple[int, ...]:
        cached = self._cache.get(chunk)
        if cached is not None:
            self._cache.move_to_end(chunk)
            return cached
        ids: list[int] = []
        for w in _basic_words(chunk):
            ids.extend(self._word_ids(w))
        out = tuple(ids)
        self._cache[chunk] = out
        if len(self._cache) > _CACHE_WORDS:
            self._cache.popitem(last=False)
        return out

    def ids(self, text: str) -> list[int]:
        out: list[int] = []
        for chunk in _BERT_SPACE.split(text):
            if chunk:
                out.extend(self._chunk_ids(chunk))
        return out

    def tokenize(self, text: str) -> list[str]:
        return [self.tokens[i] for i in self.ids(text)]


class StaticEmbedder:
    """Text -> unit vector: weighted mean of static token vectors (zero vector for no known token)."""

    def __init__(self, vectors: np.ndarray, vocab: Sequence[str], meta: Mapping[str, object] | None = None) -> None:
        if vectors.ndim != 2 or vectors.shape[0] != len(vocab):
            raise ValueError(f"embedding table has shape {vectors.shape} for a vocabulary of {len(vocab)}")
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.tokenizer = WordPiece(vocab)
        self.meta = dict(meta or {})
        self.dims = int(vectors.shape[1])
        # Special tokens and [unusedN] carry no meaning of their own.
        self.weights = np.ones(len(vocab), dtype=np.float32)
        for i, t in enumerate(vocab):
            if t.startswith("[") and t.endswith("]"):
                self.weights[i] = 0.0

    def with_weights(self, weights: Mapping[str, float], default: float) -> StaticEmbedder:
        """A copy whose token weights come from `weights` (token -> weight), others `default`."""
        other = StaticEmbedder.__new__(StaticEmbedder)
        other.vectors = self.vectors
        other.tokenizer = self.tokenizer
        other.meta = self.meta
        other.dims = self.dims
        w = np.where(self.weights > 0, np.float32(default), np.float32(0.0)).astype(np.float32)
        vocab = self.tokenizer.vocab
        for tok, val in weights.items():
            i = vocab.get(tok)
            if i is not None and self.weights[i] > 0:
                w[i] = val
        other.weights = w
        return other

    def embed_ids(self, ids: Sequence[int]) -> np.ndarray:
        if not ids:
            return np.zeros(self.dims, dtype=np.float32)
        idx = np.fromiter(ids, dtype=np.int64, count=len(ids))
        w = self.weights[idx]
        v = w @ self.vectors[idx]
        norm = float(np.sqrt(v @ v))
        return v / norm if norm > 1e-9 else np.zeros(self.dims, dtype=np.float32)

    def embed(self, text: str) -> np.ndarray:
        return self.embed_ids(self.tokenizer.ids(text)) if text else np.zeros(self.dims, dtype=np.float32)

    def embed_many(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i] = self.embed(t)
        return out

    @classmethod
    def load(cls, path: str | Path) -> StaticEmbedder:
        with np.load(path, allow_pickle=False) as z:
            vocab = bytes(z["vocab"]).decode("utf-8").split("\n")
            meta = json.loads(bytes(z["meta"]).decode("utf-8")) if "meta" in z else {}
            vectors = z["vectors"].astype(np.float32)
            if "scales" in z:  # int8 rows, one scale each (see the build script)
                vectors *= z["scales"].astype(np.float32)[:, None]
            return cls(vectors, vocab, meta)

    @staticmethod
    def shipped() -> StaticEmbedder | None:
        return _shipped()


@lru_cache(maxsize=1)
def _shipped() -> StaticEmbedder | None:
    # Read once per process (at index construction); None when the file is missing, and
    # retrieval then runs on its lexical signals alone.
    try:
        ref = resources.files("mcproute.data").joinpath("static_embeddings.npz")
        with resources.as_file(ref) as p:
            return StaticEmbedder.load(p) if p.exists() else None
    except (FileNotFoundError, ModuleNotFoundError, OSError):
        return None


class ToolVectors:
    """One embedding row per index slot; removed (or never set) slots are masked out of searches.

    With an embedder, `set(slot, text)` embeds the text; without one (the sentence encoder's
    vectors, computed outside the router) rows are given as vectors with `put(slot, vector)`."""

    def __init__(self, embedder: StaticEmbedder | None, dims: int | None = None) -> None:
        self.embedder = embedder
        self.dims = embedder.dims if embedder is not None else int(dims or 0)
        if self.dims <= 0:
            raise ValueError("ToolVectors needs an embedder or a positive number of dims")
        self._mat = np.zeros((16, self.dims), dtype=np.float32)
        self._alive = np.zeros(16, dtype=bool)
        self._high = 0  # one past the highest slot ever set
        self._holes = 0  # slots below `_high` that are not alive

    def __len__(self) -> int:
        return self._high - self._holes

    def set(self, slot: int, text: str) -> None:
        if self.embedder is None:
            raise TypeError("these ToolVectors have no embedder: use put(slot, vector)")
        self.put(slot, self.embedder.embed(text))

    def put(self, slot: int, vector: np.ndarray) -> None:
        if vector.shape != (self.dims,):
            raise ValueError(f"a vector of shape {vector.shape} for rows of {self.dims} dims")
        if slot >= len(self._alive):
            cap = max(slot + 1, 2 * len(self._alive))
            mat = np.zeros((cap, self.dims), dtype=np.float32)
            mat[: len(self._mat)] = self._mat
            alive = np.zeros(cap, dtype=bool)
            alive[: len(self._alive)] = self._alive
            self._mat, self._alive = mat, alive
        self._mat[slot] = vector
        if slot >= self._high:
            self._holes += slot - self._high
            self._high = slot + 1
        elif not self._alive[slot]:
            self._holes -= 1
        self._alive[slot] = True

    def remove(self, slot: int) -> None:
        if slot < self._high and self._alive[slot]:
            self._mat[slot] = 0.0
            self._alive[slot] = False
            self._holes += 1

    def alive(self, size: int) -> np.ndarray:
        """Which slots < size have a row."""
        out = np.zeros(size, dtype=bool)
        n = min(size, self._high)
        out[:n] = self._alive[:n]
        return out

    def row(self, slot: int) -> np.ndarray:
        """A copy of one slot's row (zeros if it has none)."""
        return self._mat[slot].copy() if slot < len(self._mat) else np.zeros(self.dims, dtype=np.float32)

    def mean(self) -> np.ndarray:
        """The mean of the live rows (zeros when there are none)."""
        n = len(self)
        return self._mat[: self._high].sum(axis=0) / n if n else np.zeros(self.dims, dtype=np.float32)

    def cosines(self, qv: np.ndarray, size: int) -> np.ndarray:
        """Cosine of every slot < size with the unit query vector (slots without a tool: -1)."""
        n = min(size, self._high)
        sims = self._mat[:n] @ qv
        if self._holes:  # removals are rare: only then pay for the mask
            sims[~self._alive[:n]] = -1.0
        if n < size:
            sims = np.concatenate((sims, np.full(size - n, -1.0, dtype=np.float32)))
        return sims


def tool_text(name: str, description: str, param_names: Sequence[str]) -> str:
    """What a tool's vector is made from: its name as words, its description, its parameter names."""
    words = " ".join(split_identifier(name))
    params = " ".join(" ".join(split_identifier(p)) for p in param_names)
    return f"{words}. {description} {params}".strip()
