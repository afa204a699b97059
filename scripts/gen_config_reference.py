"""Write docs/configuration.md from the config schema (mcproute.config_reference.render).

    PYTHONPATH=$PWD/src .venv/bin/python scripts/gen_config_reference.py

tests/test_config_reference.py fails until this is rerun after a change to src/mcproute/config.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mcproute.config_reference import missing_descriptions, render

OUT = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def main() -> int:
    if missing := missing_descriptions():
        print(f"error: config properties without Field(description=...): {', '.join(missing)}", file=sys.stderr)
        return 1
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
