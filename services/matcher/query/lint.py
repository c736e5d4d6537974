"""Query warnings: things that parse but probably do not mean what the writer meant.

Today one: a lowercase `and`/`or`/`not` standing between terms is an ordinary word, so
`cats and dogs` looks for that phrase, not for both words.
"""

from __future__ import annotations

from services.matcher.query.lexer import Kind, UnterminatedQuote, lex
from services.matcher.query.parser import QueryError

__all__ = ["lint_query"]

_TERM_ENDS = frozenset({Kind.WORD, Kind.QUOTED, Kind.REF, Kind.RPAREN})
_TERM_STARTS = frozenset({Kind.WORD, Kind.QUOTED, Kind.REF, Kind.FIELD, Kind.LPAREN})


def lint_query(source: str) -> list[QueryError]:
    """Warnings (same shape as errors) for `wirewatch check`; a query that fails to lex has none."""
    lexemes = lex(source)
    if isinstance(lexemes, UnterminatedQuote):
        return []
    warnings: list[QueryError] = []
    for i in range(1, len(lexemes) - 1):
        before, lexeme, after = lexemes[i - 1], lexemes[i], lexemes[i + 1]
        word = lexeme.text
        if lexeme.kind is not Kind.WORD or word.lower() not in ("and", "or", "not"):
            continue
        if before.kind is Kind.FIELD and before.end == lexeme.column:
            continue  # `title:and` is a scoped word
        if before.kind in _TERM_ENDS and after.kind in _TERM_STARTS:
            upper = word.upper()
            message = (
                f'"{word}" is an ordinary word here, not an operator: write {upper} to combine'
                f' terms, or quote the phrase ("… {word} …") to keep the word'
            )
            warnings.append(QueryError(message, lexeme.column))
    return warnings
