"""`mcproute keys new NAME`: a fresh client key, and the `clients:` lines that store it hashed.

The key is printed once, to stdout, for the person to hand to the client; servers.yaml keeps only
its SHA-256 (docs/security.md, "Clients, policies and limits")."""

from __future__ import annotations

import argparse
import re
import sys

_NAME = re.compile(r"^[A-Za-z0-9_.@-]+$")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION", help="new: make a key for a client")
    new = sub.add_parser("new", help="print a fresh random key and the key_sha256 line to paste under clients:")
    new.add_argument("name", help="the client's name in servers.yaml (letters, digits and _ . @ -)")


def run(args: argparse.Namespace) -> int:
    from mcproute.access.keys import new_key
    from mcproute.config_clients import hash_key

    if not _NAME.match(args.name):
        print(f"error: client name {args.name!r} may use only letters, digits and _ . @ -", file=sys.stderr)
        return 2
    key = new_key()
    print(f"key (give it to the client; it is not stored anywhere): {key}")
    print("add to servers.yaml:")
    print("clients:")
    print(f"  {args.name}:")
    print(f"    key_sha256: {hash_key(key)}")
    return 0
