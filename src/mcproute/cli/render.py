"""Terminal output for every command: tables, key/value reports and progress, drawn with `rich`.

On a terminal they get colour and bold headers; anywhere else (a pipe, a file, a test's capture)
they are plain text: no ANSI codes, no wrapping at 80 columns, no trailing blanks, so `grep`,
`cut` and diffs work on them. `NO_COLOR` and `FORCE_COLOR` are honoured (rich reads them).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import TextIO, TypeVar

from rich.console import Console
from rich.table import Table
from rich.text import Text

T = TypeVar("T")
_WIDE = 10_000  # off a terminal nothing is wrapped or cut: lines are as long as their content


def console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr), looked up now so a redirected stream is honoured."""
    stream: TextIO = sys.stderr if stderr else sys.stdout
    tty = _isatty(stream)
    # highlight=False: rich would otherwise colour every number and path it finds in our text.
    return Console(file=stream, highlight=False, width=None if tty else _WIDE, soft_wrap=not tty)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def ellipsis(stream: TextIO | None = None) -> str:
    """The ellipsis character when the stream can encode it, else three dots."""
    enc = getattr(stream or sys.stdout, "encoding", None) or "ascii"
    try:
        "\u2026".encode(enc)
    except (UnicodeEncodeError, LookupError):
        return "..."
    return "\u2026"


def shorten(text: str, width: int = 80, *, mark: str | None = None) -> str:
    """The first line of `text`, cut at a word boundary to at most `width` characters, with an
    ellipsis when something was cut (a word cut in half reads as a different word)."""
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    if len(line) <= width:
        return line
    mark = ellipsis() if mark is None else mark
    room = width - len(mark)
    head = line[: room + 1]
    cut = head.rfind(" ")
    head = head[:cut] if cut > room // 2 else line[:room]  # one giant word: cut it anyway
    return head.rstrip(" ,;:.-") + mark


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 step`, `2 steps` (the CLI never prints "1 steps")."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def table(header: Sequence[str], rows: Iterable[Sequence[object]], *, styles: Sequence[str | None] = ()) -> Table:
    """A borderless table whose header stands out on a terminal and is plain CAPS elsewhere."""
    t = Table(box=None, show_header=True, header_style="bold", pad_edge=False, show_edge=False, padding=(0, 1))
    for i, name in enumerate(header):
        t.add_column(name.upper(), style=styles[i] if i < len(styles) else None, overflow="fold")
    for row in rows:
        t.add_row(*[c if isinstance(c, Text) else Text(str(c)) for c in row])
    return t


def emit(con: Console, *renderables: object) -> None:
    """Print each renderable on its own line(s); off a terminal, with trailing blanks stripped."""
    if con.is_terminal:
        for r in renderables:
            con.print(r)
        return
    with con.capture() as cap:
        for r in renderables:
            con.print(r)
    out = "\n".join(line.rstrip() for line in cap.get().split("\n"))
    con.file.write(out)
    con.file.flush()


def state_style(state: str) -> str:
    """Colour of a health/circuit state word (only shown on a terminal)."""
    return {
        "healthy": "green",
        "available": "green",
        "closed": "green",
        "ready": "green",
        "starting": "yellow",
        "half_open": "yellow",
        "loading": "yellow",
        "disabled": "dim",
        "off": "dim",
    }.get(state, "red")


def progress(items: Sequence[T], label: str, enabled: bool = True, *, minimum: int = 200) -> Iterator[T]:
    """A progress bar on stderr for long runs, only when stderr is a terminal."""
    con = console(stderr=True)
    if not (enabled and con.is_terminal and len(items) >= minimum):
        yield from items
        return
    from rich.progress import track

    yield from track(items, description=label, console=con, total=len(items))
