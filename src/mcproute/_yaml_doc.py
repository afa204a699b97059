"""Reading a YAML document for `config.py` without letting it grow: compose once, bound the
expansion of aliases, construct from the composed graph, and index every path to its line.

Problems are raised as `YamlRefused(message, line)`; `config.py` turns them into `ConfigIssue`s
(this module sits below it and knows nothing of the config's shape).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml


class YamlRefused(Exception):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message, self.line = message, line


# YAML aliases may share a value (`&defaults` … `*defaults`), but a value reached through aliases
# counts once per place it appears: a 293-byte "billion laughs" file otherwise expanded to 3 GB.
MAX_CONFIG_NODES = 100_000


def children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [x for pair in node.value for x in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_expansion(root: yaml.Node, limit: int = MAX_CONFIG_NODES) -> None:
    """Refuse a document whose aliases expand it past `limit` values, or that refers to itself.

    Sizes are counted over the composed graph, each shared node once (iteratively: no recursion
    limit to hit), so the check costs the size of the file, not of its expansion."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children(node))
            if size[key] > limit:
                raise YamlRefused(f"YAML aliases expand the value starting here to more than {limit:,} values "
                                  "(an alias bomb?); write the values out or use fewer aliases", node.start_mark.line + 1)
            continue
        if key in size:
            continue
        if key in on_path:
            raise YamlRefused("a YAML alias refers to a value that contains it (a cycle)", node.start_mark.line + 1)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children(node) if id(c) not in size)


def compose(text: str) -> yaml.Node | None:
    loader = yaml.SafeLoader(text)
    try:
        return loader.get_single_node()
    except RecursionError:
        raise YamlRefused("YAML nested too deeply to read", None) from None
    finally:
        loader.dispose()


def construct(root: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(root)
    finally:
        loader.dispose()


def line_index(root: yaml.Node | None) -> dict[tuple[Any, ...], int]:
    """Map every YAML path to its 1-based line, for error messages."""
    lines: dict[tuple[Any, ...], int] = {}

    def walk(node: yaml.Node | None, path: tuple[Any, ...]) -> None:
        if node is None:
            return
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value
                lines[path + (key,)] = k.start_mark.line + 1
                walk(v, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, path + (i,))

    try:
        walk(root, ())
    except RecursionError:  # a deep (but alias-free, bounded) document: lines are a nicety
        pass
    return lines


def line_for(lines: Mapping[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return None
