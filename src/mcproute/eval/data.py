"""Reading evaluation files: one JSON object per line, a malformed line is a clear error."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from mcproute.errors import DataFileError

T = TypeVar("T")


def read_jsonl(path: str | Path, required: Iterable[str] = ()) -> list[dict[str, Any]]:
    """All records of a JSONL file; raises DataFileError naming the file and line of the first bad one."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataFileError(str(p), 0, f"cannot read: {exc.strerror}") from None
    need = tuple(required)
    out: list[dict[str, Any]] = []
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFileError(str(p), no, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise DataFileError(str(p), no, "expected a JSON object")
        missing = [k for k in need if k not in obj]
        if missing:
            raise DataFileError(str(p), no, f"missing key(s): {', '.join(missing)}")
        obj["_line"] = no
        out.append(obj)
    return out


def read_catalog(data_path: str | Path, rel: str, line: int, shape: type | tuple[type, ...], what: str) -> Any:
    """The JSON catalogue a data line names (path relative to the data file), of the given shape.

    A missing file is blamed on the data line that names it; bad JSON or the wrong shape on the
    catalogue itself."""
    data_path = Path(data_path)
    p = data_path.parent / rel
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataFileError(str(data_path), line, f"cannot read catalog {rel!r}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise DataFileError(str(p), exc.lineno, f"catalog is not valid JSON ({exc.msg})") from None
    if not isinstance(obj, shape):
        raise DataFileError(str(p), 1, what)
    return obj


def progress(items: list[T], label: str, enabled: bool = True) -> Iterator[T]:
    """A progress bar on stderr for a long run (200 items or more), only when stderr is a terminal."""
    from mcproute.cli.render import progress as bar

    return bar(items, label, enabled)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]
