"""The query lexer: source text to lexemes with 1-based columns (code points).

A lexeme is a parenthesis, a quoted string, an operator, a field name glued to what follows,
an `@name`, or a bare word (a run of anything but space, parentheses and `"`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

__all__ = ["Kind", "Lexeme", "UnterminatedQuote", "lex"]


class Kind(Enum):
    WORD = "word"
    QUOTED = "quoted phrase"
    FIELD = "field"
    REF = "@name"
    LPAREN = "("
    RPAREN = ")"
    AND = "AND"
    OR = "OR"
    NOT = "NOT"
    NEAR = "NEAR"
    BAD_NEAR = "NEAR without a distance"
    END = "end of query"


@dataclass(frozen=True, slots=True)
class Lexeme:
    """One lexeme. `text` is the word, the quoted content, the field name or the @name's name."""

    kind: Kind
    text: str
    column: int
    end: int  # column just past the lexeme
    distance: int = 0  # for NEAR/n


@dataclass(frozen=True, slots=True)
class UnterminatedQuote:
    column: int


_FIELD = re.compile(r"[A-Za-z]+:")
_NEAR = re.compile(r"NEAR/(\d+)")
_OPERATORS = {"AND": Kind.AND, "OR": Kind.OR, "NOT": Kind.NOT}
_DELIMITERS = frozenset('()"')


def lex(source: str) -> list[Lexeme] | UnterminatedQuote:
    """Split a query into lexemes, ending with an END lexeme just past the source."""
    out: list[Lexeme] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            out.append(Lexeme(Kind.LPAREN if ch == "(" else Kind.RPAREN, ch, i + 1, i + 2))
            i += 1
        elif ch == '"':
            close = source.find('"', i + 1)
            if close < 0:
                return UnterminatedQuote(i + 1)
            out.append(Lexeme(Kind.QUOTED, source[i + 1 : close], i + 1, close + 2))
            i = close + 1
        else:
            j = i
            while j < n and not source[j].isspace() and source[j] not in _DELIMITERS:
                j += 1
            out.extend(_lex_run(source[i:j], i + 1))
            i = j
    out.append(Lexeme(Kind.END, "", n + 1, n + 1))
    return out


def _lex_run(run: str, column: int) -> list[Lexeme]:
    """Lex one run of non-space text: field prefixes, then an @name, operator or word."""
    out: list[Lexeme] = []
    glued = False  # whether the rest follows a field name
    while field := _FIELD.match(run):
        name = field.group()[:-1]
        out.append(Lexeme(Kind.FIELD, name, column, column + len(name) + 1))
        column += field.end()
        run = run[field.end() :]
        glued = True
    if not run:
        return out
    end = column + len(run)
    if run.startswith("@"):
        out.append(Lexeme(Kind.REF, run[1:], column, end))
    elif not glued and run in _OPERATORS:
        out.append(Lexeme(_OPERATORS[run], run, column, end))
    elif not glued and run.startswith("NEAR") and (run == "NEAR" or run.startswith("NEAR/")):
        near = _NEAR.fullmatch(run)
        kind = Kind.NEAR if near else Kind.BAD_NEAR
        out.append(Lexeme(kind, run, column, end, int(near.group(1)) if near else 0))
    else:
        out.append(Lexeme(Kind.WORD, run, column, end))
    return out
