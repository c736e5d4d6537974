"""The AsyncAPI document of wirewatch's streams, generated from the code (DESIGN §1).

The running services hand raw payloads to their handlers (they validate and dead-letter bad
ones themselves), so the document is built from a separate, never-started broker that declares
the same streams, groups and reader settings (`reader_sub`) with typed signatures: who
publishes an `Article` or a `Match`, and which group reads it. Each stream entry carries one
message as JSON in its `__data__` field; readers take entries in batches of `BATCH_SIZE`.

Regenerate the committed copy after changing `services/common/models.py` (and bump
`SCHEMA_VERSION` when the change is not backwards compatible):

    uv run python -m services.common.asyncapi > docs/asyncapi.yaml
"""

from __future__ import annotations

import io
import logging
import sys
from typing import Any

from faststream.redis import RedisBroker
from faststream.specification import AsyncAPI
from ruamel.yaml import YAML

from services.common.broker import reader_sub
from services.common.keys import Keys
from services.common.models import SCHEMA_VERSION, Article, Match

TITLE = "wirewatch streams"
REGENERATE = "uv run python -m services.common.asyncapi > docs/asyncapi.yaml"
DOC_SERVER = "redis://redis:6379"  # the Compose service name; the document names no secret
DESCRIPTION = (
    "News alerting over Redis Streams with consumer groups: the poller appends one `Article` "
    "per new feed entry to the articles stream, the matcher group reads it and appends one "
    "`Match` per article that matched any rule to the matches stream, and the notifier group "
    "reads that. Each entry holds one message as JSON in its `__data__` field. Delivery is "
    "at least once: an entry is acked after its handler returns; entries left pending by a "
    "dead consumer are claimed by a live one (XAUTOCLAIM)."
)


def build_spec_broker(keys: Keys | None = None) -> RedisBroker:
    """A broker declaring every stream endpoint with its message type (for the document only)."""
    k = keys or Keys()
    broker = RedisBroker(DOC_SERVER, logger=logging.getLogger("wirewatch.asyncapi"))

    broker.publisher(
        stream=k.articles,
        schema=Article,
        title="poller.articles",
        description="The poller appends each new article once (seen-set mark and XADD are atomic).",
    )

    broker.subscriber(
        stream=reader_sub(k.articles, group=k.matcher_group, consumer="matcher-HOST-PID"),
        title="matcher.articles",
        description="The matcher group evaluates every live rule against each article.",
    )(_match_article)

    broker.publisher(
        stream=k.matches,
        schema=Match,
        title="matcher.matches",
        description="One Match per article that matched at least one rule, with every rule id.",
    )

    broker.subscriber(
        stream=reader_sub(k.matches, group=k.notifier_group, consumer="notifier-HOST-PID"),
        title="notifier.matches",
        description="The notifier group files each match into the pending digest of every "
        "subscription that wants it.",
    )(_file_match)
    return broker


async def _match_article(article: Article) -> None:
    """The matcher's contract: one entry, one `Article` (the signature is the schema)."""


async def _file_match(match: Match) -> None:
    """The notifier's contract: one entry, one `Match`."""


def asyncapi_yaml() -> str:
    """The document as YAML, exactly as committed in `docs/asyncapi.yaml`.

    FastStream lists endpoints in an order that varies between processes (set iteration), so
    the named sections are sorted: the same code always gives the same bytes.
    """
    spec = AsyncAPI(
        build_spec_broker(),
        title=TITLE,
        version=f"{SCHEMA_VERSION}.0.0",
        description=DESCRIPTION,
    ).to_specification()
    doc: dict[str, Any] = spec.to_jsonable()
    for section in ("channels", "operations"):
        doc[section] = _sorted(doc.get(section, {}))
    components = doc.get("components", {})
    for section in ("messages", "schemas"):
        if section in components:
            components[section] = _sorted(components[section])
    out = io.StringIO(newline="\n")
    dumper = YAML(typ="rt", pure=True)
    dumper.width = 4096  # no folding: folded plain scalars get trailing spaces
    dumper.indent(mapping=2, sequence=4, offset=2)
    dumper.dump(doc, out)
    return out.getvalue()


def _sorted(mapping: dict[str, Any]) -> dict[str, Any]:
    return {key: mapping[key] for key in sorted(mapping)}


if __name__ == "__main__":
    sys.stdout.write(asyncapi_yaml())
