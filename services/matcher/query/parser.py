"""The query parser: source text (and the `define`s it names) to a `Query`, or a `QueryError`.

Recursive descent over the lexemes, precedence tightest first: NEAR, NOT, AND, OR. Errors are
values with the 1-based column DESIGN §3 prescribes; inside, a private exception carries the
first one out. Scopes (`title:`…) are pushed down onto the terms here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

from services.common.text import tokenize
from services.matcher.query.ast import (
    TEXT_FIELDS,
    And,
    Meta,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Query,
    has_positive_term,
    host_name,
    is_or_group,
    language_tag,
    with_scope,
)
from services.matcher.query.lexer import Kind, Lexeme, UnterminatedQuote, lex

__all__ = ["META_FIELDS", "QueryError", "parse_define", "parse_query"]

META_FIELDS = ("feed", "lang", "site")
_ALL_FIELDS = (*TEXT_FIELDS, *META_FIELDS, "case")
_OPERAND_STARTS = frozenset({Kind.WORD, Kind.QUOTED, Kind.FIELD, Kind.REF, Kind.LPAREN})
_SIDE_BY_SIDE = "two operands side by side: put AND or OR between them"
_NO_POSITIVE = "no positive term: NOT only excludes, so add something to look for"
_BAD_NEAR = "NEAR needs a distance: write NEAR/5 (at most 5 positions apart)"
_NO_LETTER = "a word with no letter or digit: write a word to look for, or AND/OR/NOT"
_META_EXAMPLES = {"feed": "feed:bbc-urdu", "lang": "lang:en", "site": "site:bbc.co.uk"}


@dataclass(frozen=True, slots=True)
class QueryError:
    """What is wrong with a query and where: `column` is 1-based, in code points."""

    message: str
    column: int


class _Fail(Exception):
    def __init__(self, error: QueryError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(slots=True)
class _Operand:
    """A parsed operand and whether it may stand beside NEAR (and where it starts if not)."""

    node: Node
    near_ok: bool
    column: int


def parse_query(source: str, defines: Mapping[str, str] | None = None) -> Query | QueryError:
    """Parse a rule's query so it can be evaluated against many articles, or say what is wrong.

    `defines` maps names (without `@`) to raw query strings; an error inside a define that the
    query reaches is reported at the query's `@`.
    """
    context = _Context(defines or {}, {})
    try:
        lexemes = _lex_checked(source)
        root = _Parser(source, lexemes, context, ()).parse_all()
        if not has_positive_term(root):
            raise _Fail(QueryError(_NO_POSITIVE, lexemes[0].column))
    except _Fail as fail:
        return fail.error
    return Query(root, source)


def parse_define(name: str, defines: Mapping[str, str]) -> Node | QueryError:
    """One define on its own, so `wirewatch check` can place an error inside the define itself.

    A define may have no positive term (`NOT sport` is a fine define); a query using it may not.
    """
    source = defines[name]
    try:
        lexemes = _lex_checked(source)
        return _Parser(source, lexemes, _Context(defines, {}), (name,)).parse_all()
    except _Fail as fail:
        return fail.error


@dataclass(slots=True)
class _Context:
    defines: Mapping[str, str]
    parsed: dict[str, Node | QueryError]


def _lex_checked(source: str) -> list[Lexeme]:
    """Lex and check quotes, then parentheses: the first two error classes, in that order."""
    lexemes = lex(source)
    if isinstance(lexemes, UnterminatedQuote):
        message = 'unterminated quote: close the phrase with another "'
        raise _Fail(QueryError(message, lexemes.column))
    open_parens: list[Lexeme] = []
    for lexeme in lexemes:
        if lexeme.kind is Kind.LPAREN:
            open_parens.append(lexeme)
        elif lexeme.kind is Kind.RPAREN:
            if not open_parens:
                message = "unbalanced parenthesis: this ) closes nothing; remove it or add a ("
                raise _Fail(QueryError(message, lexeme.column))
            open_parens.pop()
    if open_parens:
        message = "unbalanced parenthesis: this ( is never closed; add a )"
        raise _Fail(QueryError(message, open_parens[0].column))
    return lexemes


class _Parser:
    """One pass over one source's lexemes (a query, or a define it reaches)."""

    def __init__(
        self, source: str, lexemes: list[Lexeme], context: _Context, stack: tuple[str, ...]
    ) -> None:
        self.source = source
        self.lexemes = lexemes
        self.context = context
        self.stack = stack  # names of the defines being expanded, to catch cycles
        self.pos = 0
        self.prev_end = 1

    # -- helpers ------------------------------------------------------------------------

    def peek(self) -> Lexeme:
        return self.lexemes[self.pos]

    def advance(self) -> Lexeme:
        lexeme = self.lexemes[self.pos]
        self.pos += 1
        self.prev_end = lexeme.end
        return lexeme

    def fail(self, message: str, column: int) -> NoReturn:
        raise _Fail(QueryError(message, column))

    def run_at(self, column: int) -> str:
        """The run of non-space text starting at a column (to quote it in a message)."""
        end = column - 1
        while (
            end < len(self.source)
            and not self.source[end].isspace()
            and self.source[end] not in '"()'
        ):
            end += 1
        return self.source[column - 1 : end]

    def text_from(self, column: int) -> str:
        return self.source[column - 1 : self.prev_end - 1]

    # -- grammar ------------------------------------------------------------------------

    def parse_all(self) -> Node:
        node = self.parse_or()
        lexeme = self.peek()
        if lexeme.kind is not Kind.END:
            self.fail_side_by_side(lexeme)
        return node

    def parse_or(self) -> Node:
        column = self.peek().column
        children = [self.parse_and()]
        while self.peek().kind is Kind.OR:
            self.advance()
            children.append(self.parse_and())
        if len(children) == 1:
            return children[0]
        return Or(tuple(children), self.text_from(column), column)

    def parse_and(self) -> Node:
        column = self.peek().column
        children = [self.parse_not()]
        while self.peek().kind in (Kind.AND, Kind.NOT):
            if self.peek().kind is Kind.AND:
                self.advance()
            children.append(self.parse_not())  # `a NOT b` is `a AND NOT b`
        if len(children) == 1:
            return children[0]
        return And(tuple(children), self.text_from(column), column)

    def parse_not(self) -> Node:
        if self.peek().kind is not Kind.NOT:
            return self.parse_near()
        column = self.advance().column
        child = self.parse_not()
        return Not(child, self.text_from(column), column)

    def parse_near(self) -> Node:
        column = self.peek().column
        left = self.parse_operand()
        lexeme = self.peek()
        if lexeme.kind is Kind.BAD_NEAR:
            self.fail(_BAD_NEAR, lexeme.column)
        if lexeme.kind is not Kind.NEAR:
            return left.node
        self.check_near_operand(left)
        self.advance()
        right = self.parse_operand()
        self.check_near_operand(right)
        if self.peek().kind in (Kind.NEAR, Kind.BAD_NEAR):
            message = "chained NEAR: use one NEAR per pair, e.g. (a NEAR/3 b) AND (b NEAR/3 c)"
            self.fail(message, self.peek().column)
        return Near(left.node, right.node, lexeme.distance, self.text_from(column), column)

    def check_near_operand(self, operand: _Operand) -> None:
        if not operand.near_ok:
            message = (
                "NEAR takes words, phrases, prefixes or an OR-group of those;"
                " to scope it, write title:(a NEAR/3 b)"
            )
            self.fail(message, operand.column)

    def parse_operand(self, *, one_word: bool = False) -> _Operand:
        lexeme = self.peek()
        kind = lexeme.kind
        if kind is Kind.WORD:
            return self.parse_bare_phrase(one_word=one_word)
        if kind is Kind.QUOTED:
            self.advance()
            node = _phrase(lexeme.text, lexeme.column, quoted=True, exact=False)
            node = dataclasses.replace(node, text=self.text_from(lexeme.column))
            return _Operand(node, True, lexeme.column)
        if kind is Kind.LPAREN:
            return self.parse_group()
        if kind is Kind.REF:
            return self.parse_ref()
        if kind is Kind.FIELD:
            return self.parse_field()
        self.fail_missing_operand(lexeme)

    def fail_missing_operand(self, lexeme: Lexeme) -> NoReturn:
        if lexeme.kind is Kind.BAD_NEAR:
            self.fail(_BAD_NEAR, lexeme.column)
        if lexeme.kind is not Kind.END:
            self.fail(
                f"{lexeme.text} where a term belongs: put a word or phrase here", lexeme.column
            )
        if self.pos == 0:
            self.fail("empty query: write a word or phrase to look for", lexeme.column)
        previous = self.lexemes[self.pos - 1]
        self.fail(f"{previous.text} needs a term after it", lexeme.column)

    def parse_bare_phrase(self, *, one_word: bool) -> _Operand:
        first = self.advance()
        words = [first.text]
        while not (one_word or words[-1].endswith("*")) and self.peek().kind is Kind.WORD:
            words.append(self.advance().text)
        node = _phrase(" ".join(words), first.column, quoted=False, exact=False)
        if len(words) > 1 and not all(tokenize(word.removesuffix("*")) for word in words):
            raise _Fail(QueryError(_NO_LETTER, first.column))  # `Putin & Kim`: say AND
        node = dataclasses.replace(node, text=self.text_from(first.column))
        return _Operand(node, True, first.column)

    def parse_group(self) -> _Operand:
        opening = self.advance()
        if self.peek().kind is Kind.RPAREN:
            self.fail(
                "empty group: put a term inside the parentheses or remove them", opening.column
            )
        node = self.parse_or()
        closing = self.peek()
        if closing.kind is not Kind.RPAREN:
            self.fail_side_by_side(closing)
        self.advance()
        node = dataclasses.replace(node, text=self.text_from(opening.column), column=opening.column)
        return _Operand(node, is_or_group(node), opening.column)

    def parse_ref(self) -> _Operand:
        lexeme = self.advance()
        node = self.resolve(lexeme)
        node = dataclasses.replace(node, text=self.text_from(lexeme.column), column=lexeme.column)
        return _Operand(node, is_or_group(node), lexeme.column)

    def resolve(self, lexeme: Lexeme) -> Node:
        """The tree of a define, parsed once per `parse_query` call; its errors become ours."""
        name = lexeme.text
        if not name:
            self.fail("@ needs a name, as in @dprk", lexeme.column)
        if name in self.stack:
            chain = " → ".join("@" + n for n in (*self.stack, name))
            self.fail(f"cyclic @{name} ({chain}): a define cannot use itself", lexeme.column)
        if name not in self.context.defines:
            self.fail(f"undefined @{name}: add it under define:", lexeme.column)
        parsed = self.context.parsed.get(name)
        if parsed is None:
            try:
                lexemes = _lex_checked(self.context.defines[name])
                stack = (*self.stack, name)
                parsed = _Parser(
                    self.context.defines[name], lexemes, self.context, stack
                ).parse_all()
            except _Fail as fail:
                parsed = fail.error
            self.context.parsed[name] = parsed
        if isinstance(parsed, QueryError):
            message = f"in @{name} (column {parsed.column}): {parsed.message}"
            self.fail(message, lexeme.column)
        return parsed

    def fail_side_by_side(self, lexeme: Lexeme) -> NoReturn:
        if lexeme.kind is Kind.FIELD:
            self.check_field(lexeme, self.lexemes[self.pos + 1])  # `a Re:Invent`: say quote it
        self.fail(_SIDE_BY_SIDE, lexeme.column)

    def check_field(self, field: Lexeme, glued: Lexeme) -> None:
        """A field must be known and have its operand glued to it; both errors name the field."""
        name = field.text
        if name not in _ALL_FIELDS:
            self.fail(_unknown_field(name, self.run_at(field.column)), field.column)
        if glued.column != field.end or glued.kind not in _OPERAND_STARTS:
            self.fail(f"{name}: needs a term right after the colon, as in {name}:x", field.column)

    def parse_field(self) -> _Operand:
        field = self.advance()
        name = field.text
        glued = self.peek()
        self.check_field(field, glued)
        if name == "case":
            return self.parse_case(field, glued)
        if name in META_FIELDS:
            return self.parse_meta(name, field, glued)
        operand = self.parse_operand(one_word=True)
        node = with_scope(operand.node, name)
        node = dataclasses.replace(node, text=self.text_from(field.column), column=field.column)
        return _Operand(node, False, glued.column)

    def parse_case(self, field: Lexeme, glued: Lexeme) -> _Operand:
        if glued.kind not in (Kind.WORD, Kind.QUOTED):
            message = 'case: takes a word or a quoted phrase, as in case:US or case:"US Army"'
            self.fail(message, glued.column)
        self.advance()
        node = _phrase(glued.text, glued.column, quoted=glued.kind is Kind.QUOTED, exact=True)
        node = dataclasses.replace(node, text=self.text_from(field.column))
        return _Operand(node, True, glued.column)

    def parse_meta(self, name: str, field: Lexeme, glued: Lexeme) -> _Operand:
        value = glued.text.strip()
        if glued.kind not in (Kind.WORD, Kind.QUOTED) or not value:
            self.fail(f"{name}: takes one value, as in {_META_EXAMPLES[name]}", glued.column)
        self.advance()
        node = Meta(name, normalise_meta(name, value), self.text_from(field.column), field.column)
        return _Operand(node, False, glued.column)


def _unknown_field(name: str, run: str) -> str:
    known = ", ".join(_ALL_FIELDS)
    return f'unknown field {name}: fields are {known}; to search for the text, quote it: "{run}"'


def normalise_meta(kind: str, value: str) -> str:
    """The comparable form of a metadata value: lang tags and hosts ignore case."""
    if kind == "lang":
        return language_tag(value)
    if kind == "site":
        return host_name(value)
    return value


def _phrase(text: str, column: int, *, quoted: bool, exact: bool) -> Phrase:
    """Build a phrase term from query text, checking `*`, prefix length and that it has tokens."""
    body = text.strip() if quoted else text
    prefix = body.endswith("*")
    if prefix:
        body = body[:-1]
    if "*" in body:
        raise _Fail(QueryError("misplaced *: it may only end the last word, as in weapon*", column))
    tokens = tokenize(body, fold_case=not exact)
    if prefix and not _is_good_prefix(body, tokens, exact):
        message = "a prefix needs 2 or more letters or digits right before *, as in weapon*"
        raise _Fail(QueryError(message, column))
    if not tokens:
        raise _Fail(QueryError(_NO_LETTER, column))
    return Phrase(tuple(tokens), prefix, exact, None, text, column)


def _is_good_prefix(body: str, tokens: list[str], exact: bool) -> bool:
    """The last token has 2+ code points and ends right at the `*` (no separator between)."""
    if not tokens or len(tokens[-1]) < 2:
        return False
    extended = tokenize(body + "x", fold_case=not exact)
    return len(extended) == len(tokens) and extended[-1] == tokens[-1] + "x"
