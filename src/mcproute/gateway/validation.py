"""Tool-argument validation before forwarding, with compiled validators cached per schema.

Uses `jsonschema`, which `mcp` itself depends on (no new dependency). A validator is compiled
once per schema object (the catalogue keeps schema objects across rebuilds unless the server
re-lists), and the common case costs one `is_valid` call; error messages are only built on
failure. A downstream whose schema is itself invalid is not blocked: its calls go through
unvalidated, with one warning.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from jsonschema import exceptions as js_exceptions, validators as js_validators
from jsonschema.protocols import Validator

logger = logging.getLogger(__name__)


class ArgumentValidator:
    def __init__(self) -> None:
        self._cache: dict[str, tuple[int, Validator | None]] = {}

    def _validator(self, tool: str, schema: Mapping[str, Any]) -> Validator | None:
        hit = self._cache.get(tool)
        if hit is not None and hit[0] == id(schema):
            return hit[1]
        validator: Validator | None
        try:
            cls = js_validators.validator_for(schema, default=js_validators.Draft202012Validator)
            cls.check_schema(schema)
            validator = cls(schema)
        except (js_exceptions.SchemaError, TypeError) as exc:
            logger.warning("tool %r has an invalid input schema (%s); its calls are not validated", tool, exc)
            validator = None
        # The schema object is kept alive by the catalogue entry, so its id is stable while cached.
        self._cache[tool] = (id(schema), validator)
        return validator

    def problems(self, tool: str, schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> list[str]:
        """Empty when `arguments` satisfies `schema`; otherwise one line per problem, with its path."""
        if not schema:
            return []
        validator = self._validator(tool, schema)
        if validator is None or validator.is_valid(arguments):
            return []
        out = []
        for err in sorted(validator.iter_errors(arguments), key=lambda e: list(map(str, e.absolute_path))):
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
            out.append(f"{'arguments' + where}: {err.message}")
            if len(out) >= 10:
                break
        return out

    def forget(self, keep: set[str]) -> None:
        for name in list(self._cache):
            if name not in keep:
                del self._cache[name]
