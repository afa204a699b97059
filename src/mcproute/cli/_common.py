"""What every command that reads servers.yaml does first: log to stderr, load, report issues."""

from __future__ import annotations

import logging
import sys

from mcproute.config import LoadedConfig, load_config
from mcproute.errors import ConfigError


def load_or_report(path: str, *, log_level: int = logging.ERROR) -> LoadedConfig | None:
    """The loaded config, or None after printing every issue with its location to stderr.

    Logging goes to stderr because stdout may belong to an MCP client (stdio) or to `--json`.
    """
    logging.basicConfig(level=log_level, stream=sys.stderr, format="mcproute: %(message)s")
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        for issue in exc.issues:
            print(f"error: {issue}", file=sys.stderr)
        return None
    from mcproute.telemetry.redact import install_log_redaction, redactor_for

    # Every command's log lines pass the one redaction, not only serve's (telemetry.setup adds its own).
    install_log_redaction(redactor_for(loaded))
    return loaded
