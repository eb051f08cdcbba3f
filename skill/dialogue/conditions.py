"""The small condition language used in dialogue files (`when:` and `branch`).

Dialogue authors write things like ``setting in [bath, sofa]`` or
``answer.feel == not_okay and people >= 2``. We parse them with a tiny
tokenizer and recursive-descent parser into a tree and evaluate that tree
against a :class:`CondEnv`; nothing is ever passed to ``eval``, so a dialogue
file can never run code. Errors carry the character offset so the validator
can point at the exact column.

Grammar::

    expr    := and_ ("or" and_)*
    and_    := unary ("and" unary)*
    unary   := "not" unary | primary
    primary := "(" expr ")" | NAME [OP value | "in" list]
    list    := "[" value ("," value)* "]"
    value   := bare word | quoted string | number
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Union

from skill.settings import SETTING

SETTINGS = ("bath", "sofa", "bedside", "car")
NAMES = ("setting", "people", "has_notes", "notes_ours", "notes", "note_kept", "answer.NODE")
_COMPARE = ("==", "!=", "<", "<=", ">", ">=")


class ConditionError(ValueError):
    """A condition that cannot be parsed; ``offset`` is 0-based into the text."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


# --------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # name | number | string | op | ( | ) | [ | ] | , | end
    text: str
    offset: int
    value: Union[str, float, None] = None


_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>-?\d+(?:\.\d+)?)(?![A-Za-z_])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<string>"[^"]*"|'[^']*')
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punct>[()\[\],])
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[Token]:
    """Split a condition into tokens, or raise ConditionError at the bad spot."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m:
            ch = text[pos]
            if ch in "\"'":
                raise ConditionError("unclosed quote", pos)
            if ch == "=":
                raise ConditionError("use '==' to compare, not '='", pos)
            raise ConditionError(f"unexpected character {ch!r}", pos)
        kind = m.lastgroup or ""
        tok = m.group(0)
        if kind == "number":
            tokens.append(Token("number", tok, pos, float(tok)))
        elif kind == "name":
            tokens.append(Token("name", tok, pos, tok))
        elif kind == "string":
            tokens.append(Token("string", tok, pos, tok[1:-1]))
        elif kind == "op":
            tokens.append(Token("op", tok, pos))
        elif kind == "punct":
            tokens.append(Token(tok, tok, pos))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


# --------------------------------------------------------------------------
# Tree
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Var:
    name: str  # setting | people | has_notes | notes | answer.NODE
    offset: int = 0

    @property
    def answer_node(self) -> str | None:
        return self.name[len("answer."):] if self.name.startswith("answer.") else None


@dataclass(frozen=True)
class Compare:
    var: Var
    op: str  # one of _COMPARE or "in"
    values: tuple[Union[str, float], ...]
    offset: int = 0


@dataclass(frozen=True)
class Truthy:
    var: Var


@dataclass(frozen=True)
class Not:
    expr: "Cond"


@dataclass(frozen=True)
class And:
    left: "Cond"
    right: "Cond"


@dataclass(frozen=True)
class Or:
    left: "Cond"
    right: "Cond"


Cond = Union[Compare, Truthy, Not, And, Or]

#: Names that are true or false on their own.
FLAGS = ("has_notes", "notes_ours", "notes", "note_kept")


@dataclass
class CondEnv:
    """What a condition can see. ``answers`` maps node id -> intents given there."""

    setting: str = SETTING
    people: int = 0
    answers: Mapping[str, "set[str] | frozenset[str]"] = field(default_factory=dict)
    has_notes: bool = False
    notes_ours: bool = True  # the earlier notes are from exactly the people present
    notes: bool = True
    note_kept: bool = False  # a note was kept earlier in this session


# --------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def is_word(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "name" and tok.text == word

    def parse(self) -> Cond:
        if self.peek().kind == "end":
            raise ConditionError("empty condition", 0)
        expr = self.or_()
        tok = self.peek()
        if tok.kind != "end":
            raise ConditionError(f"unexpected {tok.text!r}; join conditions with 'and' or 'or'", tok.offset)
        return expr

    def or_(self) -> Cond:
        left = self.and_()
        while self.is_word("or"):
            self.take()
            left = Or(left, self.and_())
        return left

    def and_(self) -> Cond:
        left = self.unary()
        while self.is_word("and"):
            self.take()
            left = And(left, self.unary())
        return left

    def unary(self) -> Cond:
        if self.is_word("not"):
            self.take()
            return Not(self.unary())
        return self.primary()

    def primary(self) -> Cond:
        tok = self.peek()
        if tok.kind == "(":
            self.take()
            expr = self.or_()
            if self.peek().kind != ")":
                raise ConditionError("missing ')'", self.peek().offset)
            self.take()
            return expr
        if tok.kind != "name" or tok.text in ("and", "or", "in", "not"):
            what = "the end" if tok.kind == "end" else repr(tok.text)
            raise ConditionError(f"expected a name ({', '.join(NAMES)}) but found {what}", tok.offset)
        self.take()
        var = self.variable(tok)
        nxt = self.peek()
        if nxt.kind == "op":
            self.take()
            value = self.value()
            return self.check(Compare(var, nxt.text, (value,), nxt.offset))
        if nxt.kind == "name" and nxt.text == "in":
            self.take()
            values = self.list_()
            return self.check(Compare(var, "in", tuple(values), nxt.offset))
        if var.name in FLAGS or var.answer_node is not None or var.name == "people":
            return Truthy(var)
        raise ConditionError(f"compare '{var.name}' with a value, e.g. 'setting == bath'", nxt.offset)

    def variable(self, tok: Token) -> Var:
        name = tok.text
        if name in ("setting", "people") + FLAGS:
            return Var(name, tok.offset)
        if name.startswith("answer.") and name.count(".") >= 1 and len(name) > len("answer."):
            return Var(name, tok.offset)
        if name == "answer":
            raise ConditionError("write answer.NODE, e.g. 'answer.feel == okay'", tok.offset)
        hint = _did_you_mean(name, ("setting", "people", "answer") + FLAGS)
        raise ConditionError(f"unknown name '{name}'{hint}; names are {', '.join(NAMES)}", tok.offset)

    def value(self) -> Union[str, float]:
        tok = self.peek()
        if tok.kind in ("name", "string", "number") and tok.text not in ("and", "or", "not", "in"):
            self.take()
            assert tok.value is not None
            return tok.value
        what = "the end" if tok.kind == "end" else repr(tok.text)
        raise ConditionError(f"expected a value but found {what}", tok.offset)

    def list_(self) -> list[Union[str, float]]:
        tok = self.peek()
        if tok.kind != "[":
            raise ConditionError("'in' needs a list, e.g. 'setting in [bath, sofa]'", tok.offset)
        self.take()
        values = [self.value()]
        while self.peek().kind == ",":
            self.take()
            values.append(self.value())
        if self.peek().kind != "]":
            raise ConditionError("missing ']'", self.peek().offset)
        self.take()
        return values

    def check(self, cmp: Compare) -> Compare:
        """Type rules, so mistakes show up when the file is checked, not mid-session."""
        name = cmp.var.name
        if name in FLAGS:
            raise ConditionError(f"'{name}' is true or false on its own; write '{name}' or 'not {name}'", cmp.offset)
        if name == "setting":
            if cmp.op not in ("==", "!=", "in"):
                raise ConditionError(f"setting can only be compared with ==, != or in, not {cmp.op}", cmp.offset)
            for v in cmp.values:
                if not isinstance(v, str) or v not in SETTINGS:
                    hint = _did_you_mean(str(v), SETTINGS)
                    raise ConditionError(f"'{_fmt(v)}' is not a setting{hint}; settings are {', '.join(SETTINGS)}", cmp.offset)
        elif name == "people":
            for v in cmp.values:
                if not isinstance(v, float):
                    raise ConditionError(f"people is a number; compare it with a number, not '{v}'", cmp.offset)
        else:  # answer.NODE
            if cmp.op not in ("==", "!=", "in"):
                raise ConditionError(f"an answer can only be compared with ==, != or in, not {cmp.op}", cmp.offset)
            for v in cmp.values:
                if not isinstance(v, str):
                    raise ConditionError(f"compare an answer with an intent name, not {_fmt(v)}", cmp.offset)
        return cmp


def _fmt(v: Union[str, float]) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _did_you_mean(word: str, options: tuple[str, ...]) -> str:
    import difflib

    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def parse(text: str) -> Cond:
    """Parse a condition, raising ConditionError with an offset on mistakes."""
    if not isinstance(text, str):
        raise ConditionError("a condition must be text", 0)
    return _Parser(text).parse()


# --------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------


def evaluate(cond: Cond, env: CondEnv) -> bool:
    """Evaluate a parsed condition; total (never raises for a parsed tree)."""
    if isinstance(cond, And):
        return evaluate(cond.left, env) and evaluate(cond.right, env)
    if isinstance(cond, Or):
        return evaluate(cond.left, env) or evaluate(cond.right, env)
    if isinstance(cond, Not):
        return not evaluate(cond.expr, env)
    if isinstance(cond, Truthy):
        name = cond.var.name
        if name == "has_notes":
            return bool(env.has_notes)
        if name == "notes_ours":
            return bool(env.notes_ours)
        if name == "notes":
            return bool(env.notes)
        if name == "note_kept":
            return bool(env.note_kept)
        if name == "people":
            return env.people > 0
        node = cond.var.answer_node
        return bool(env.answers.get(node or "", ()))
    return _compare(cond, env)


def _compare(cmp: Compare, env: CondEnv) -> bool:
    name = cmp.var.name
    if name == "setting":
        if cmp.op == "==":
            return env.setting == cmp.values[0]
        if cmp.op == "!=":
            return env.setting != cmp.values[0]
        return env.setting in cmp.values
    if name == "people":
        n = float(env.people)
        if cmp.op == "in":
            return n in cmp.values
        v = float(cmp.values[0])
        return {
            "==": n == v,
            "!=": n != v,
            "<": n < v,
            "<=": n <= v,
            ">": n > v,
            ">=": n >= v,
        }[cmp.op]
    given = env.answers.get(cmp.var.answer_node or "", ())
    if cmp.op == "==":
        return cmp.values[0] in given
    if cmp.op == "!=":
        return cmp.values[0] not in given
    return any(v in given for v in cmp.values)


def answer_nodes(cond: Cond) -> list[Var]:
    """Every ``answer.NODE`` variable in a condition (for the validator)."""
    if isinstance(cond, (And, Or)):
        return answer_nodes(cond.left) + answer_nodes(cond.right)
    if isinstance(cond, Not):
        return answer_nodes(cond.expr)
    var = cond.var
    return [var] if var.answer_node is not None else []


def compared_intents(cond: Cond) -> list[tuple[Var, str, int]]:
    """(answer var, intent name, offset) pairs, so the validator can check the names."""
    if isinstance(cond, (And, Or)):
        return compared_intents(cond.left) + compared_intents(cond.right)
    if isinstance(cond, Not):
        return compared_intents(cond.expr)
    if isinstance(cond, Compare) and cond.var.answer_node is not None:
        return [(cond.var, str(v), cond.offset) for v in cond.values]
    return []
