"""The loaded configuration: plain frozen values, each remembering where in which file it was written."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from services.common.secrets import SecretUrl


@dataclass(frozen=True, order=True)
class Position:
    """A place in a config file (1-based line and column)."""

    path: Path
    line: int
    col: int


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or suspicious) in the config, printed as `path:line:col: message`."""

    path: Path
    line: int
    col: int
    message: str
    severity: Literal["error", "warning"] = "error"

    @classmethod
    def at(
        cls, pos: Position, message: str, *, col_offset: int = 0, warning: bool = False
    ) -> Problem:
        return cls(
            pos.path, pos.line, pos.col + col_offset, message, "warning" if warning else "error"
        )

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.path}:{self.line}:{self.col}: {prefix}{self.message}"


@dataclass(frozen=True)
class FeedConfig:
    id: str
    url: str
    title: str = ""
    every: float = 900.0
    tags: tuple[str, ...] = ()
    pos: Position | None = None


@dataclass(frozen=True)
class RuleExamples:
    match: tuple[tuple[str, Position], ...] = ()
    no_match: tuple[tuple[str, Position], ...] = ()


@dataclass(frozen=True)
class RuleConfig:
    id: str
    query: str
    title: str = ""
    feeds: tuple[str, ...] = ()
    lang: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    examples: RuleExamples = field(default_factory=RuleExamples)
    pos: Position | None = None
    query_pos: Position | None = None


@dataclass(frozen=True)
class SubscriptionConfig:
    id: str
    rules: tuple[str, ...]
    notify: tuple[SecretUrl, ...]
    digest: str = "immediate"
    max_items: int | None = None
    pos: Position | None = None
    digest_pos: Position | None = None
    notify_pos: tuple[Position, ...] = ()  # where each `notify` item is, in order

    def target_name(self, index: int) -> str:
        """Targets are named SUBSCRIPTION#N (1-based), never by their secret URL."""
        return f"{self.id}#{index + 1}"


@dataclass(frozen=True)
class Config:
    folder: Path
    feeds: tuple[FeedConfig, ...] = ()
    defines: dict[str, str] = field(default_factory=dict)
    define_pos: dict[str, Position] = field(default_factory=dict)
    rules: tuple[RuleConfig, ...] = ()
    subscriptions: tuple[SubscriptionConfig, ...] = ()
    sources: dict[Path, str] = field(default_factory=dict, repr=False)
    """Each file's text, to place problems inside multi-line and quoted values."""

    def feed(self, feed_id: str) -> FeedConfig | None:
        return next((f for f in self.feeds if f.id == feed_id), None)

    def rule(self, rule_id: str) -> RuleConfig | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def subscription(self, sub_id: str) -> SubscriptionConfig | None:
        return next((s for s in self.subscriptions if s.id == sub_id), None)
