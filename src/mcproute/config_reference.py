"""docs/configuration.md, rendered from `Config.model_json_schema()` so the reference cannot drift.

`scripts/gen_config_reference.py` writes it; tests/test_config_reference.py renders it again in
memory and fails when the file differs or a property has no description. One section per model
of the schema, in the order a reader meets them from the top level; one table row per property.
"""

from __future__ import annotations

import json
from typing import Any

from mcproute.config import Config

REGENERATE = "PYTHONPATH=$PWD/src .venv/bin/python scripts/gen_config_reference.py"

_HEADER = f"""# Configuration reference (`servers.yaml`)

<!-- Generated from the pydantic schema in src/mcproute/config.py: do not edit by hand.
     Regenerate with: {REGENERATE} -->

Every key mcproute reads from its config file, with its type, default and meaning. Unknown keys
are errors (`mcproute check` names them, with the line and a suggestion). Any string value may use
`${{VAR}}` (or `${{VAR:-default}}`) to read an environment variable; a missing one makes only what
uses it unavailable, named in `mcproute check` and in the status. Relative paths (`data_dir`,
`cwd`, and so relative paths in a stdio server's `args`) start from the config file's directory.
See [guide.md](guide.md) for a walk-through and `servers.yaml` in the repository root for an example.

The whole schema as JSON Schema: `mcproute config schema` (for editors that validate YAML).
"""


def render() -> str:
    schema = Config.model_json_schema()
    defs: dict[str, Any] = schema.get("$defs", {})
    out = [_HEADER]
    queue: list[tuple[str, str, dict[str, Any]]] = [("(top level)", "Config", schema)]
    seen: set[str] = set()
    while queue:
        where, name, model = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        out.append(f"\n## `{where}`\n" if where != "(top level)" else "\n## Top level\n")
        if doc := model.get("description"):
            out.append(f"\n{_one_line(doc)}\n")
        out.append("\n| key | type | default | description |\n|---|---|---|---|\n")
        required = set(model.get("required", ()))
        children: list[tuple[str, str, dict[str, Any]]] = []
        for key, prop in model.get("properties", {}).items():
            path = key if where == "(top level)" else f"{where}.{key}"
            ref, suffix = _child(prop)
            if ref is not None:
                children.append((path + suffix, ref, defs[ref]))
            default = "required" if key in required else _default(prop, ref, path + (suffix if ref else ""))
            out.append(f"| `{key}` | {_type(prop, defs)} | {default} | {_cell(prop.get('description', ''))} |\n")
        queue[:0] = children  # depth first: a section's subsections follow it
    return "".join(out)


def missing_descriptions() -> list[str]:
    """Dotted `Model.property` names that have no description (each must have one)."""
    schema = Config.model_json_schema()
    models = {"Config": schema, **schema.get("$defs", {})}
    return [
        f"{m}.{k}"
        for m, sch in models.items()
        for k, p in sch.get("properties", {}).items()
        if not p.get("description")
    ]


def _child(prop: dict[str, Any]) -> tuple[str | None, str]:
    """The nested model a property holds (directly, per key of a mapping, or per list item)."""
    if "$ref" in prop:
        return _ref(prop["$ref"]), ""
    for option in prop.get("anyOf", ()):  # an optional section (`oauth: null` unless set)
        if "$ref" in option:
            return _ref(option["$ref"]), ""
    extra = prop.get("additionalProperties")
    if isinstance(extra, dict) and "$ref" in extra:
        return _ref(extra["$ref"]), ".<name>"
    items = prop.get("items")
    if isinstance(items, dict) and "$ref" in items:
        return _ref(items["$ref"]), "[]"
    return None, ""


def _ref(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _type(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "anyOf" in prop:
        text = " or ".join(_type(p, defs) for p in prop["anyOf"])
    elif "$ref" in prop:
        text = "section"
    elif "enum" in prop:
        text = " \\| ".join(f"`{json.dumps(v)}`" for v in prop["enum"])
    elif prop.get("type") == "array":
        items = prop.get("items") or {}
        text = f"list of {_type(items, defs)}" if items else "list"
    elif prop.get("type") == "object":
        extra = prop.get("additionalProperties")
        text = f"map of name → {_type(extra, defs)}" if isinstance(extra, dict) else "map"
    else:
        text = {"number": "number", "integer": "integer", "string": "string", "boolean": "boolean", "null": "null"}.get(
            prop.get("type", ""), "any"
        )
    bounds = [
        f"{op} {prop[k]:g}"
        for k, op in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"))
        if k in prop
    ]
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _default(prop: dict[str, Any], ref: str | None, child: str) -> str:
    if "default" in prop:
        return f"`{json.dumps(prop['default'], ensure_ascii=False)}`"
    if ref is not None:
        return f"see [`{child}`](#{_anchor(child)})"
    return {"array": "`[]`", "object": "`{}`"}.get(prop.get("type", ""), "—")


def _anchor(title: str) -> str:
    """GitHub's heading anchor for a heading that is just `title` in backticks."""
    return "".join(c for c in title.lower() if c.isalnum() or c in "-_ ").replace(" ", "-")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    return _one_line(text).replace("|", "\\|")
