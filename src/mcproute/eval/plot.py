"""The outcomes cost/quality curve as a PNG, drawn with matplotlib (the optional `plot` extra).

matplotlib is the one heavy dependency of the evaluation harness and only `--plot` needs it, so
it is an extra (`pip install 'mcproute[plot]'`) and imported here lazily; `missing()` lets the
CLI refuse `--plot` up front instead of after minutes of scoring.
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Sequence

INSTALL_HINT = "--plot needs matplotlib: pip install 'mcproute[plot]'"


def missing() -> str | None:
    """The one-line message to print when matplotlib cannot be imported, else None."""
    try:
        found = importlib.util.find_spec("matplotlib") is not None
    except ValueError:  # sys.modules["matplotlib"] is None (import blocked) or has no spec
        found = False
    if not found:
        return INSTALL_HINT
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return INSTALL_HINT
    return None


def cost_quality_png(
    curve: Sequence[tuple[float, float]],
    weak: float,
    strong: float,
    baseline: Sequence[tuple[float, float]] | None = None,
    width: int = 720,
    height: int = 520,
) -> bytes:
    """Share of turns sent to strong (x) vs mean quality (y): router, random, always-weak/strong."""
    # The Agg canvas directly, not pyplot: no display, no global backend switch, no figure registry.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if baseline:
        ax.plot(*zip(*baseline, strict=True), color="tab:orange", linewidth=1.8, label="prompt length")
    ax.plot(*zip(*curve, strict=True), color="tab:blue", linewidth=2.5, label="router")
    ax.plot([0, 1], [weak, strong], color="grey", linestyle="--", linewidth=1.5, label="random")
    ax.axhline(strong, color="tab:green", linestyle="--", linewidth=1.5, label="always strong")
    ax.axhline(0.95 * strong, color="tab:green", linestyle=":", linewidth=1.2, label="95% of strong")
    ax.axhline(weak, color="tab:red", linestyle="--", linewidth=1.5, label="always weak")
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of turns sent to the strong tier")
    ax.set_ylabel("mean quality")
    ax.set_title("Cost vs quality of routing turns to the strong tier")
    ax.grid(True, color="0.9")
    # Under the axes, not inside: any corner inside can hide a curve or the always-weak line.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
