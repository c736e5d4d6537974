"""The committed AsyncAPI document is what the code generates (STYLE §8: messages are the contract)."""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML

from services.common.asyncapi import REGENERATE, asyncapi_yaml
from services.common.models import SCHEMA_VERSION
from tests.conftest import ROOT

DOC = ROOT / "docs" / "asyncapi.yaml"


def _load(text: str) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(text)
    return data


def test_committed_document_matches_the_code() -> None:
    generated = asyncapi_yaml()
    committed = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    if generated != committed:
        old, new = _load(committed or "{}"), _load(generated)
        old_schemas = old.get("components", {}).get("schemas")
        new_schemas = new["components"]["schemas"]
        hint = ""
        if (
            old_schemas != new_schemas
            and old.get("info", {}).get("version") == new["info"]["version"]
        ):
            hint = (
                " The message schemas changed: if the change is not backwards compatible, bump "
                "SCHEMA_VERSION in services/common/models.py first."
            )
        raise AssertionError(
            f"docs/asyncapi.yaml is out of date; regenerate it: {REGENERATE}.{hint}"
        )


def test_document_describes_both_streams_with_their_messages() -> None:
    doc = _load(asyncapi_yaml())
    assert doc["asyncapi"].startswith("3.")
    assert doc["info"]["version"] == f"{SCHEMA_VERSION}.0.0"
    channels = doc["channels"]
    by_key = {key: (c["address"], c["bindings"]["redis"]) for key, c in channels.items()}
    assert by_key["poller.articles"][0] == "wirewatch:articles"
    assert by_key["matcher.articles"][1]["groupName"] == "matcher"
    assert by_key["matcher.articles"][1]["method"] == "xreadgroup"
    assert by_key["matcher.matches"][0] == "wirewatch:matches"
    assert by_key["notifier.matches"][1]["groupName"] == "notifier"
    schemas = doc["components"]["schemas"]
    assert set(schemas["Article"]["required"]) == {"id", "feed"}
    assert {
        "id",
        "feed",
        "title",
        "summary",
        "content",
        "author",
        "categories",
        "lang",
        "link",
        "published",
    } <= set(schemas["Article"]["properties"])
    assert schemas["Match"]["properties"]["article"] == {"$ref": "#/components/schemas/Article"}
    messages = doc["components"]["messages"]
    assert messages["notifier.matches:SubscribeMessage"]["payload"] == {
        "$ref": "#/components/schemas/Match"
    }
