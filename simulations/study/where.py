"""The ``where`` filter of a study design: a small expression language, never Python.

A design's filter arrives from a TOML file or from a results folder's ``manifest.json``,
both of which may come from someone else, so it is parsed by the grammar below and
evaluated by walking the parsed tree; no string is ever handed to ``eval``,
:meth:`pandas.DataFrame.query` or anything that imports, calls or looks up attributes.

Grammar (keywords are lower case; ``True``/``False`` are accepted too)::

    filter     := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := operand (("==" | "!=" | "<" | "<=" | ">" | ">=") operand)*
                | operand ["not"] "in" list
    operand    := factor name | literal | "(" or_expr ")"
    list       := "[" literal ("," literal)* [","] "]"   (or the same in round brackets)
    literal    := number | -number | 'text' | "text" | true | false

Chained comparisons mean what they do in mathematics (``5 <= n < 100``). Comparisons must
compare like with like (numbers, text or booleans): ``n == '20'`` is an error rather than
a filter that silently keeps nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_LENGTH", "Filter", "parse_where"]

#: Longest filter accepted, in characters, and deepest nesting of brackets and ``not``.
MAX_LENGTH = 10_000
_MAX_DEPTH = 100

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<text>'[^'\n]*'|"[^"\n]*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,|-)
""", re.VERBOSE)
_KEYWORDS = {"and", "or", "not", "in"}
_BOOLS = {"true": True, "false": False, "True": True, "False": False}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "text"


@dataclass(frozen=True)
class _Token:
    kind: str  # number, text, name, op, end
    value: Any
    pos: int


def _tokens(text: str) -> list[_Token]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"unexpected character {text[pos]!r} at position {pos}; a filter "
                             "may hold factor names, numbers, quoted text, comparisons, "
                             "and/or/not, in [...] and brackets")
        kind = m.lastgroup
        raw = m.group()
        if kind == "number":
            value: Any = float(raw) if any(c in raw for c in ".eE") else int(raw)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"number {raw!r} at position {pos} is not finite")
            out.append(_Token("number", value, pos))
        elif kind == "text":
            out.append(_Token("text", raw[1:-1], pos))
        elif kind in ("name", "op"):
            out.append(_Token(kind, raw, pos))
        pos = m.end()
    out.append(_Token("end", None, len(text)))
    return out


# A parsed node is a small tuple: ("lit", value) | ("name", str) | ("not", node)
# | ("and"/"or", [nodes]) | ("cmp", [operands], [ops]) | ("in", node, values, negated)
Node = tuple


class _Parser:
    def __init__(self, text: str, names: frozenset[str]) -> None:
        self.tokens = _tokens(text)
        self.i = 0
        self.names = names
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, kind: str, value: Any = None) -> bool:
        tok = self.peek()
        if tok.kind == kind and (value is None or tok.value == value):
            self.i += 1
            return True
        return False

    def expect(self, kind: str, value: str, what: str) -> None:
        if not self.accept(kind, value):
            tok = self.peek()
            found = "the end" if tok.kind == "end" else repr(tok.value)
            raise ValueError(f"expected {what} at position {tok.pos}, found {found}")

    def nested(self, parse: Callable[[], Node]) -> Node:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise ValueError(f"the filter nests deeper than {_MAX_DEPTH} levels")
        try:
            return parse()
        finally:
            self.depth -= 1

    def parse(self) -> Node:
        node = self.or_expr()
        tok = self.peek()
        if tok.kind != "end":
            raise ValueError(f"unexpected {tok.value!r} at position {tok.pos}")
        return node

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.accept("name", "or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def and_expr(self) -> Node:
        parts = [self.not_expr()]
        while self.accept("name", "and"):
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def not_expr(self) -> Node:
        if self.accept("name", "not"):
            return ("not", self.nested(self.not_expr))
        return self.comparison()

    def comparison(self) -> Node:
        first = self.operand()
        tok = self.peek()
        if tok.kind == "name" and tok.value in ("in", "not"):
            negated = self.accept("name", "not")
            self.expect("name", "in", "'in' after 'not'" if negated else "'in'")
            return ("in", first, self.literal_list(), negated)
        operands, ops = [first], []
        while self.peek().kind == "op" and self.peek().value in _COMPARE:
            ops.append(self.take().value)
            operands.append(self.operand())
        return first if not ops else ("cmp", operands, ops)

    def operand(self) -> Node:
        tok = self.peek()
        if self.accept("op", "("):
            node = self.nested(self.or_expr)
            self.expect("op", ")", "')'")
            return node
        if tok.kind == "name" and tok.value not in _KEYWORDS and tok.value not in _BOOLS:
            self.take()
            if tok.value not in self.names:
                raise ValueError(f"unknown name {tok.value!r} at position {tok.pos}; the "
                                 f"factors are {sorted(self.names)} (write text in quotes)")
            return ("name", tok.value)
        return ("lit", self.literal())

    def literal(self) -> Any:
        tok = self.take()
        if tok.kind in ("number", "text"):
            return tok.value
        if tok.kind == "op" and tok.value == "-" and self.peek().kind == "number":
            return -self.take().value
        if tok.kind == "name" and tok.value in _BOOLS:
            return _BOOLS[tok.value]
        found = "the end" if tok.kind == "end" else repr(tok.value)
        raise ValueError(f"expected a factor name, a number, quoted text or a bracket at "
                         f"position {tok.pos}, found {found}")

    def literal_list(self) -> tuple:
        close = {"[": "]", "(": ")"}
        tok = self.peek()
        if not (tok.kind == "op" and tok.value in close):
            raise ValueError(f"expected a list such as ['a', 'b'] after 'in' at position "
                             f"{tok.pos}")
        end = close[self.take().value]
        values = []
        while not self.accept("op", end):
            values.append(self.literal())
            if not self.accept("op", ","):
                self.expect("op", end, f"',' or {end!r}")
                break
        if not values:
            raise ValueError(f"the list after 'in' at position {tok.pos} is empty")
        return tuple(values)


def _same_kind(a: Any, b: Any, op: str) -> None:
    if _kind(a) != _kind(b):
        raise ValueError(f"cannot compare {_kind(a)} {a!r} with {_kind(b)} {b!r} ({op}); "
                         "compare numbers with numbers and text with quoted text")


def _truth(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{what} must be true or false, got {_kind(value)} {value!r}")
    return value


def _evaluate(node: Node, row: Mapping[str, Any]) -> Any:
    tag = node[0]
    if tag == "lit":
        return node[1]
    if tag == "name":
        return row[node[1]]
    if tag == "not":
        return not _truth(_evaluate(node[1], row), "the operand of 'not'")
    if tag == "and":
        return all(_truth(_evaluate(n, row), "each side of 'and'") for n in node[1])
    if tag == "or":
        return any(_truth(_evaluate(n, row), "each side of 'or'") for n in node[1])
    if tag == "in":
        value = _evaluate(node[1], row)
        for item in node[2]:
            _same_kind(value, item, "in")
        return (value in node[2]) != node[3]
    values = [_evaluate(n, row) for n in node[1]]
    for (a, b), op in zip(zip(values, values[1:], strict=False), node[2], strict=True):
        _same_kind(a, b, op)
        if _kind(a) == "boolean" and op not in ("==", "!="):
            raise ValueError(f"booleans can only be compared with == or !=, not {op}")
        if not _COMPARE[op](a, b):
            return False
    return True


@dataclass(frozen=True)
class Filter:
    """A parsed ``where`` filter: which conditions of a design to keep.

    Build it with :func:`parse_where`; call :meth:`keeps` on one condition or
    :meth:`mask` on the rows of a grid.

    Examples
    --------
    >>> f = parse_where("n >= 20", ["n"])
    >>> isinstance(f, Filter), f.keeps({"n": 50}), f.keeps({"n": 10})
    (True, True, False)
    """

    text: str
    tree: Node

    def keeps(self, condition: Mapping[str, Any]) -> bool:
        """Whether the filter keeps one condition (factor name -> level).

        Raises
        ------
        ValueError
            If a comparison mixes kinds (a number with text) or the filter is not a truth
            value (e.g. ``"n"`` for a numeric factor).
        """
        return _truth(_evaluate(self.tree, condition), "the filter")

    def mask(self, rows: Sequence[Mapping[str, Any]]) -> list[bool]:
        """:meth:`keeps` for each row."""
        return [self.keeps(row) for row in rows]


def parse_where(text: str, factors: Sequence[str]) -> Filter:
    """Parse a ``where`` filter over the named factors (see the module docstring).

    Parameters
    ----------
    text : str
        The filter, e.g. ``"not (policy == 'none' and threshold > 0)"``; line breaks are
        allowed (TOML's multi-line strings).
    factors : sequence of str
        The only names the filter may use.

    Returns
    -------
    Filter

    Raises
    ------
    ValueError
        If the text is not a filter of this grammar, uses a name that is not a factor, or
        is longer than :data:`MAX_LENGTH`; the message gives the position.

    Examples
    --------
    >>> f = parse_where("policy in ['a', 'b'] and 10 <= n < 100", ["policy", "n"])
    >>> f.keeps({"policy": "a", "n": 50}), f.keeps({"policy": "c", "n": 50})
    (True, False)
    >>> parse_where("__import__('os').system('id')", ["n"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unexpected character '.' at position 16; a filter may hold factor names, ...
    >>> parse_where("__import__('os')", ["n"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown name '__import__' at position 0; the factors are ['n'] (write text ...
    """
    if not isinstance(text, str):
        raise ValueError(f"the filter must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"the filter is {len(text)} characters long; at most {MAX_LENGTH}")
    if not text.strip():
        raise ValueError("the filter is empty")
    return Filter(text, _Parser(text, frozenset(factors)).parse())
