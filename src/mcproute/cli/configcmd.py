"""`mcproute check`, `mcproute config schema`, `mcproute import FILE`."""

from __future__ import annotations

import argparse
import json
import sys

import yaml

from mcproute.config import ConfigIssue, config_schema, load_config, sorted_issues
from mcproute.config_import import import_client_config
from mcproute.errors import ConfigError

ADD_ARGUMENTS_TAKES_NAME = True


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    if name == "check":
        p.add_argument("--config", default="servers.yaml", help="the file to check (default: %(default)s)")
        p.add_argument("--json", action="store_true", help="print issues as JSON")
    elif name == "config":
        p.add_argument("action", choices=["schema"], help="schema: print the JSON schema of servers.yaml (for editors)")
    elif name == "import":
        p.add_argument("file", help="a client's JSON config (mcpServers / servers / mcp.servers)")
        p.add_argument("-o", "--output", help="write YAML here instead of stdout")


def run(args: argparse.Namespace) -> int:
    if args._name == "config":
        print(json.dumps(config_schema(), indent=2))
        return 0
    if args._name == "import":
        return _import(args)
    return _check(args)


def _check(args: argparse.Namespace) -> int:
    from mcproute.config_checks import lint

    try:
        loaded = load_config(args.config)
    except ConfigError as exc:
        # Loaders below config.py (tier examples, tier model) raise plain strings; give them a place.
        issues = [i if isinstance(i, ConfigIssue) else ConfigIssue("", str(i), file=args.config) for i in exc.issues]
    else:
        with open(args.config, encoding="utf-8") as fh:
            issues = list(loaded.issues) + lint(loaded, fh.read())
    issues = sorted_issues(issues)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "path": i.path,
                        "line": i.line,
                        "column": i.column,
                        "file": i.file,
                        "message": i.message,
                        "kind": i.kind,
                    }
                    for i in issues
                ]
            )
        )
    else:
        for issue in issues:
            print(f"error: {issue}", file=sys.stderr)
        if not issues:
            print(f"{args.config}: ok")
    return 1 if issues else 0


def _import(args: argparse.Namespace) -> int:
    try:
        with open(args.file, encoding="utf-8") as fh:
            converted = import_client_config(fh.read())
    except (OSError, ValueError) as exc:
        print(f"error: {args.file}: {exc}", file=sys.stderr)
        return 1
    text = yaml.safe_dump(converted, sort_keys=False)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0
