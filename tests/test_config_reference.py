"""docs/configuration.md is the config schema rendered: current, and every property described."""

from __future__ import annotations

import difflib
from pathlib import Path

from mcproute.config import Config
from mcproute.config_reference import REGENERATE, missing_descriptions, render

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_every_config_property_has_a_description() -> None:
    missing = missing_descriptions()
    assert not missing, f"add Field(description=...) to: {', '.join(missing)}; then run: {REGENERATE}"


def test_configuration_reference_is_current() -> None:
    expected = render()
    actual = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    if actual != expected:
        diff = "".join(
            list(
                difflib.unified_diff(
                    actual.splitlines(True),
                    expected.splitlines(True),
                    "docs/configuration.md",
                    "rendered from config.py",
                )
            )[:40]
        )
        raise AssertionError(f"docs/configuration.md is out of date; regenerate it with:\n    {REGENERATE}\n{diff}")


def test_reference_names_every_property_with_its_default() -> None:
    """The renderer walks the whole schema: each model's every key is a row, with the schema's default."""
    text = render()
    schema = Config.model_json_schema()
    for model in [schema, *schema["$defs"].values()]:
        for key in model["properties"]:
            assert f"| `{key}` |" in text, key
    assert "| `port` | integer (≥ 0, ≤ 65535) | `8765` |" in text
    assert '| `provider` | `"openai"` \\| `"anthropic"` \\| `"scripted"` | required |' in text
