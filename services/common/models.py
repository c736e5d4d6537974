"""The stream contract: the messages that travel over `wirewatch:articles` and `wirewatch:matches`.

These pydantic models are the only shapes that cross service boundaries; the AsyncAPI document
is generated from them, so a field added here is a change of the public contract.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class Article(BaseModel):
    """One feed entry, normalised: what the matcher reads and the notifier renders.

    `id` is the article's identity (canonical link, else guid, else a hash of feed+title);
    `link` is the canonical link; `published` is UTC (None when the feed gave no date).
    Text fields are the feed's own (possibly HTML) text: matching normalises, rendering escapes.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    feed: str
    title: str = ""
    summary: str = ""
    content: str = ""
    author: str = ""
    categories: list[str] = Field(default_factory=list)
    lang: str = ""
    link: str = ""
    published: datetime | None = None
    fetched: datetime | None = None
    outlet: str = ""


class Match(BaseModel):
    """An article and the ids of every rule it matched, so the notifier can file it once per rule set."""

    model_config = ConfigDict(frozen=True)

    article: Article
    rules: list[str]
    matched_at: datetime
