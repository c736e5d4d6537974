"""The wirewatch query language (DESIGN §3): parse a rule's query once, evaluate it per article.

query = parse_query("Russia AND @dprk", defines={"dprk": "North Korea OR DPRK"})
if isinstance(query, QueryError): ...report query.column...
doc = Document.from_fields(title=..., content=..., lang="en", link=...)
evaluate(query, doc)
"""

from services.matcher.query.ast import (
    And,
    Meta,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Query,
    required_tokens,
)
from services.matcher.query.evaluate import (
    Document,
    evaluate,
    explain,
    lang_matches,
    matched_spans,
)
from services.matcher.query.lint import lint_query
from services.matcher.query.parser import QueryError, parse_query

__all__ = [
    "And",
    "Document",
    "Meta",
    "Near",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "Query",
    "QueryError",
    "evaluate",
    "explain",
    "lang_matches",
    "lint_query",
    "matched_spans",
    "parse_query",
    "required_tokens",
]
