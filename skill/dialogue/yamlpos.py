"""Read YAML into plain dicts/lists that remember where every key and value was.

Dialogue authors are not programmers, so every complaint must point at
``file:line:column``. PyYAML's composer keeps marks on its node tree; we walk
that tree ourselves (no object construction from tags, so nothing can run)
and copy the marks onto dict/list subclasses.

Scalars follow YAML 1.2 rules rather than PyYAML's 1.1 rules: ``yes``, ``no``,
``on`` and ``off`` stay words (they are intent names and phrases here), and
only ``true``/``false`` are booleans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class Mark:
    """A 1-based position in a file."""

    file: str
    line: int
    col: int
    quoted: bool = False

    def at(self, offset: int) -> "Mark":
        """The mark ``offset`` characters into this scalar (skipping a quote)."""
        return Mark(self.file, self.line, self.col + offset + (1 if self.quoted else 0))

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class YMap(dict):
    """A mapping that knows the marks of itself, its keys and its values."""

    mark: Mark
    kmarks: dict
    vmarks: dict

    def kmark(self, key: str) -> Mark:
        return self.kmarks.get(key, self.mark)

    def vmark(self, key: str) -> Mark:
        return self.vmarks.get(key, self.mark)


class YList(list):
    """A list that knows the marks of itself and its items."""

    mark: Mark
    imarks: list

    def imark(self, i: int) -> Mark:
        return self.imarks[i] if 0 <= i < len(self.imarks) else self.mark


class YamlError(Exception):
    """A YAML syntax or structure problem at a mark."""

    def __init__(self, mark: Mark, message: str) -> None:
        super().__init__(f"{mark}: {message}")
        self.mark = mark
        self.message = message


_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")


def _mark(file: str, node: yaml.Node) -> Mark:
    quoted = isinstance(node, yaml.ScalarNode) and node.style in ("'", '"')
    return Mark(file, node.start_mark.line + 1, node.start_mark.column + 1, quoted)


def _scalar(node: yaml.ScalarNode) -> Any:
    if node.style is not None:  # quoted or block scalar: always text
        return node.value
    v = node.value
    if v in ("true", "True", "TRUE"):
        return True
    if v in ("false", "False", "FALSE"):
        return False
    if v in ("", "~", "null", "Null", "NULL"):
        return None
    if _INT.match(v):
        return int(v)
    if _FLOAT.match(v) and any(c.isdigit() for c in v):
        return float(v)
    return v


MAX_NODES = 200_000  # aliases can make a tiny file expand enormously ("billion laughs")


def as_word(value: Any) -> str:
    """A YAML scalar as the word its author wrote. PyYAML's ``safe_load``
    (YAML 1.1) reads bare ``yes``/``no`` as booleans, and ``true``/``false``
    are booleans in any YAML; where a word is meant (an intent name, a phrase,
    a typed answer in a test) they are the words "yes" and "no"."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


class _TooBig(Exception):
    pass


def convert(file: str, node: yaml.Node, duplicates: list[YamlError], budget: list[int] | None = None) -> Any:
    """Turn a composed node into YMap/YList/scalars; duplicate keys go to ``duplicates``."""
    budget = budget if budget is not None else [MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooBig()
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node)
    if isinstance(node, yaml.SequenceNode):
        out = YList(convert(file, item, duplicates, budget) for item in node.value)
        out.mark = _mark(file, node)
        out.imarks = [_mark(file, item) for item in node.value]
        return out
    if isinstance(node, yaml.MappingNode):
        m = YMap()
        m.mark = _mark(file, node)
        m.kmarks = {}
        m.vmarks = {}
        for knode, vnode in node.value:
            if isinstance(knode, yaml.ScalarNode):
                key: Any = knode.value  # keys are names: keep the text as written
            else:
                duplicates.append(YamlError(_mark(file, knode), "a key must be a plain word"))
                continue
            if key == "<<":
                duplicates.append(YamlError(_mark(file, knode), "merge keys ('<<') are not supported; write the keys out"))
                continue
            if key in m:
                first = m.kmarks[key]
                duplicates.append(YamlError(_mark(file, knode), f"duplicate key '{key}' (first given at line {first.line})"))
                continue
            m[key] = convert(file, vnode, duplicates, budget)
            m.kmarks[key] = _mark(file, knode)
            m.vmarks[key] = _mark(file, vnode)
        return m
    raise YamlError(_mark(file, node), "unsupported YAML node")


def load(file: str, text: str) -> tuple[Any, list[YamlError]]:
    """Parse one YAML document. Returns (value or None, problems); never raises."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        col = mark.column + 1 if mark else 1
        msg = exc.problem or "YAML syntax error"
        if exc.context:
            msg = f"{msg} ({exc.context})"
        return None, [YamlError(Mark(file, line, col), f"YAML syntax error: {msg}")]
    except yaml.YAMLError as exc:  # pragma: no cover - unmarked errors are rare
        return None, [YamlError(Mark(file, 1, 1), f"YAML syntax error: {exc}")]
    except RecursionError:
        return None, [YamlError(Mark(file, 1, 1), "the file is nested too deeply")]
    if node is None:
        return None, []
    problems: list[YamlError] = []
    try:
        value = convert(file, node, problems)
    except RecursionError:
        return None, [YamlError(Mark(file, 1, 1), "the file is nested too deeply")]
    except _TooBig:
        return None, [YamlError(Mark(file, 1, 1), "the file expands to too much data (too many '*' aliases?)")]
    return value, problems
