"""The JSON Schema of a config file, so editors can validate and complete `rules/*.yaml`.

`tests/unit/test_schema.py` checks it names exactly the keys the loader accepts and validates
the example config; `wirewatch schema` prints it. The schema checks shape (keys, types, id and interval formats); `wirewatch check` checks the
rest (queries, references, schedules, targets, examples) with positions.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SCHEMA_ID", "config_schema"]

SCHEMA_ID = "urn:wirewatch:config"
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_INTERVAL_PATTERN = r"^\s*\d+(\.\d+)?\s*[smhd]\s*$"


def _text(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": ["string", "number"], "description": description, **extra}


def _strings(description: str) -> dict[str, Any]:
    """A list of strings; the loader also takes a single string as a one-item list."""
    return {
        "description": description,
        "oneOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": ["string", "number"]}},
        ],
    }


def _entries(item: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "type": ["array", "null"],
        "items": {"$ref": f"#/$defs/{item}"},
    }


def _closed(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that every `*.yaml` file in the config folder follows."""
    feed = _closed(
        {
            "id": {"$ref": "#/$defs/id"},
            "url": _text("http(s)://, file:// or a path relative to the config folder"),
            "title": _text("outlet name in digests (else the feed's own title, else the id)"),
            "every": _text(
                "poll interval: a number and s|m|h|d, at least 5s",
                pattern=_INTERVAL_PATTERN,
                default="15m",
                examples=["5m", "15m", "1h"],
            ),
            "tags": _strings("names that rules may refer to as tag:NAME"),
        },
        ["id", "url"],
    )
    rule = _closed(
        {
            "id": {"$ref": "#/$defs/id"},
            "title": _text("shown as the heading of this rule's items in digests"),
            "query": _text(
                "words, phrases, prefix*, AND/OR/NOT, NEAR/n, title:/summary:/content:/author:/"
                "category:, feed:/lang:/site:, case:, @define (README: query language)",
                examples=["Russia AND @dprk AND (military OR weapon*)"],
            ),
            "feeds": _strings("only articles from these feeds (ids, or tag:NAME)"),
            "lang": _strings("only articles in these languages (en holds for en-GB)"),
            "tags": _strings("names that subscriptions may refer to as tag:NAME"),
            "examples": {
                "description": "texts the query must (match) or must not (no_match) match; "
                "`wirewatch check` runs them",
                "type": "object",
                "properties": {
                    "match": _strings("texts the query must match"),
                    "no_match": _strings("texts the query must not match"),
                },
                "additionalProperties": False,
            },
        },
        ["id", "query"],
    )
    subscription = _closed(
        {
            "id": {"$ref": "#/$defs/id"},
            "rules": _strings("rule ids, or tag:NAME of rules' tags"),
            "notify": _strings("Apprise URLs; keep tokens in the environment: ${VAR}"),
            "digest": _text(
                "when to send",
                default="immediate",
                examples=[
                    "immediate",
                    "every 30m",
                    "hourly",
                    "daily 08:00 Asia/Seoul",
                    "weekly mon 09:00 UTC",
                ],
            ),
            "max_items": {
                "type": "integer",
                "minimum": 1,
                "description": "at most this many items per digest (the newest)",
            },
        },
        ["id", "rules", "notify"],
    )
    top = {
        "feeds": _entries("feed", "feeds to poll"),
        "define": {
            "description": "named sub-queries, used in queries as @name",
            "type": ["object", "null"],
            "propertyNames": {"pattern": _ID_PATTERN},
            "additionalProperties": _text("a query"),
        },
        "rules": _entries("rule", "watch rules"),
        "subscriptions": _entries("subscription", "who gets which rules' matches, and when"),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "wirewatch config file",
        "description": "One *.yaml file of the wirewatch config folder (default rules/).",
        "type": ["object", "null"],
        "properties": top,
        "additionalProperties": False,
        "$defs": {
            "id": {"type": ["string", "number"], "pattern": _ID_PATTERN},
            "feed": feed,
            "rule": rule,
            "subscription": subscription,
        },
    }
