"""`mcproute` command line: a registry of subcommands, each in its own module, imported lazily
so that `mcproute check` does not pay for importing the router or the SDK.

Each command module defines `add_arguments(parser)` and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("mcproute.cli.serve", "run the gateway (stdio or streamable HTTP)"),
    "tools": ("mcproute.cli.tools", "list the aggregated catalogue and each server's health"),
    "check": ("mcproute.cli.configcmd", "validate servers.yaml; every error with its location"),
    "config": ("mcproute.cli.configcmd", "config helpers: `mcproute config schema`"),
    "import": ("mcproute.cli.configcmd", "convert a Claude Desktop / Cursor / VS Code mcpServers JSON"),
    "route": ("mcproute.cli.route", "print the routing decision for one step"),
    "eval": ("mcproute.cli.eval", "offline evaluation of routing quality"),
    "traces": ("mcproute.cli.traces", "inspect recorded decisions (JSONL file or Jaeger)"),
    "pins": ("mcproute.cli.pins", "tool-definition pins: list, diff and approve changed tool definitions"),
    "policy": ("mcproute.cli.policy", "learned policy versions: show the one in force, history, rollback"),
    "replay": ("mcproute.cli.replay", "re-decide kept steps with a candidate config and show what would change"),
    "shadow": (
        "mcproute.cli.shadow",
        "what shadow traffic found: the other tier's answers compared with the live ones",
    ),
    "keys": ("mcproute.cli.keys", "client API keys: `mcproute keys new NAME` prints a key and its key_sha256"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mcproute", description="An MCP gateway that routes tools and models.")
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {_version()}", help="print the installed version and exit"
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="what to do (`mcproute COMMAND --help` for its flags)"
    )
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module, _name=name)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            p.set_defaults(_missing=True)
            continue
        mod.add_arguments(p, name) if _takes_name(mod) else mod.add_arguments(p)
    return parser


def _version() -> str:
    """The installed distribution's version (what pip knows), else the source tree's."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mcproute")
    except PackageNotFoundError:
        from mcproute import __version__

        return __version__


def _takes_name(mod: object) -> bool:
    return getattr(mod, "ADD_ARGUMENTS_TAKES_NAME", False)


def main(argv: Sequence[str] | None = None) -> int:
    from mcproute._blas import single_threaded_blas

    single_threaded_blas()  # before any command imports numpy (see mcproute/_blas.py)
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_missing", False):
        print(f"mcproute {args._name}: not available in this build", file=sys.stderr)
        return 2
    mod = importlib.import_module(args._module)
    try:
        return int(mod.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
