"""Call hooks the engine installs on the gateway (proxied calls recorded and traced)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcproute.runtime.engine import Engine


def install_hooks(engine: Engine) -> list[Callable[[], None]]:
    return []
