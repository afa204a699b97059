"""Reading a YAML document for `config.py` without letting it grow: compose once, bound the
expansion of aliases, construct from the composed graph, and index every path to its line.

Problems are raised as `YamlRefused(message, line)`; `config.py` turns them into `ConfigIssue`s
(this module sits below it and knows nothing of the config's shape). It also finds duplicate
keys, and where a syntax error really is (PyYAML often reports the line after the mistake).
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
                raise YamlRefused(
                    f"YAML aliases expand the value starting here to more than {limit:,} values "
                    "(an alias bomb?); write the values out or use fewer aliases",
                    node.start_mark.line + 1,
                )
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


Position = tuple[int, int]  # 1-based (line, column)


def _pos(mark: yaml.Mark) -> Position:
    return mark.line + 1, mark.column + 1


def position_index(root: yaml.Node | None) -> dict[tuple[Any, ...], Position]:
    """Map every YAML path to its 1-based (line, column): a mapping entry's key, a list item's value."""
    positions: dict[tuple[Any, ...], Position] = {}

    def walk(node: yaml.Node | None, path: tuple[Any, ...]) -> None:
        if node is None:
            return
        positions.setdefault(path, _pos(node.start_mark))
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value
                positions[path + (key,)] = _pos(k.start_mark)
                walk(v, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, path + (i,))

    try:
        walk(root, ())
    except RecursionError:  # a deep (but alias-free, bounded) document: positions are a nicety
        pass
    return positions


def position_for(positions: Mapping[tuple[Any, ...], Position], loc: tuple[Any, ...]) -> Position | tuple[None, None]:
    """The position of `loc`, or of its nearest ancestor the document has."""
    while loc:
        if loc in positions:
            return positions[loc]
        loc = loc[:-1]
    return None, None


def duplicate_keys(root: yaml.Node | None) -> list[tuple[tuple[Any, ...], Position, Position]]:
    """(path, where, where it first was) for every key written twice in one mapping. PyYAML keeps
    the last silently, so a second `time:` server would replace the first without a word."""
    out: list[tuple[tuple[Any, ...], Position, Position]] = []
    seen_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, tuple[Any, ...]]] = [(root, ())] if root is not None else []
    while stack:  # iterative, and each node once: aliases share nodes (see check_expansion)
        node, path = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, Position] = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    if k.value in first:
                        out.append((path + (k.value,), _pos(k.start_mark), first[k.value]))
                    else:
                        first[k.value] = _pos(k.start_mark)
                stack.append((v, path + (getattr(k, "value", "?"),)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((v, path + (i,)) for i, v in enumerate(node.value))
    return sorted(out, key=lambda d: d[1])


def syntax_error_at(text: str, exc: yaml.MarkedYAMLError) -> tuple[Position | None, str]:
    """Where a YAML syntax error really is, and its message.

    PyYAML reports where reading failed, which is often after the mistake: a quote never closed
    fails at the end of the file (a line past the last), a missing `]` or `:` at the end of a line
    fails on the next line (the line break was read as part of a value). Point at the mistake."""
    problem, context = exc.problem or "invalid YAML", exc.context
    pm, cm = exc.problem_mark, exc.context_mark
    if pm is None:
        return None, problem
    if cm is not None and context and not text[pm.index :].strip():  # a quote or bracket never closed
        what = context.removeprefix("while scanning ").removeprefix("while parsing ")
        return _pos(cm), f"{what} starts here and is never closed ({problem})"
    last = _last_token_before(text, pm.index)
    if isinstance(last, yaml.ScalarToken) and last.plain and last.start_mark.line < last.end_mark.line:
        # A plain value ran on over a line break: the ':' or closing bracket belongs at its first line's end.
        end = _line_end(text, last.start_mark.index)
        return end, (
            f"{problem}: the value starting at line {last.start_mark.line + 1} runs on into line "
            f"{last.end_mark.line + 1}; is a ':' or a closing bracket missing at the end of line {end[0]}?"
        )
    gap = text[last.end_mark.index : pm.index] if last is not None else ""
    if context and "flow" in context and last is not None and "\n" in gap and not gap.strip():
        at = _pos(cm) if cm is not None else None
        opened = f" (the one opened at line {at[0]}, column {at[1]})" if at else ""
        return _pos(last.end_mark), f"{problem} after this; a closing bracket missing{opened}?"
    if problem == "mapping values are not allowed here":
        return _pos(pm), f"{problem} (a value containing ': ' needs quotes)"
    return _pos(pm), problem + (
        f" ({context} at line {cm.line + 1}, column {cm.column + 1})" if context and cm is not None else ""
    )


def _last_token_before(text: str, index: int) -> yaml.Token | None:
    last = None
    try:
        for token in yaml.scan(text):
            if token.end_mark.index > index or isinstance(token, yaml.StreamEndToken):
                break
            if not isinstance(token, yaml.StreamStartToken):
                last = token
    except yaml.YAMLError:
        pass
    return last


def _line_end(text: str, index: int) -> Position:
    """The position just after the last visible character of the line holding `index`."""
    end = text.find("\n", index)
    line_text = text[text.rfind("\n", 0, index) + 1 : len(text) if end < 0 else end].rstrip()
    return text.count("\n", 0, index) + 1, len(line_text) + 1
