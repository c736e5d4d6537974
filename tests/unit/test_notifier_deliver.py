"""Which messages a target gets (format, parts, the articles each part carries), and that a
delivery error never shows the secret parts of a target URL. No network: Apprise only parses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.common.models import Article
from services.common.secrets import SecretUrl
from services.notifier.deliver import _scrub, plan_messages, target_label
from services.notifier.digest import Digest, PendingItem, assemble_digest

T0 = datetime(2026, 6, 18, 9, 0, tzinfo=UTC)


def digest(n: int, max_items: int | None = None) -> Digest:
    articles = [
        Article(
            id=f"a{i}",
            feed="wire",
            title=f"Headline number {i} about the talks",
            summary="Officials said the talks would continue next week. " * 4,
            link=f"https://news.example.org/{i}",
            published=T0 - timedelta(minutes=i),
        )
        for i in range(n)
    ]
    built = assemble_digest(
        [PendingItem(a, ("r",)) for a in articles],
        subscription="desk",
        rule_order=["r"],
        rule_titles={"r": "Talks"},
        max_items=max_items,
        zone=ZoneInfo("UTC"),
    )
    assert built is not None
    return built


def test_email_is_one_html_message_with_every_article() -> None:
    d = digest(300, max_items=250)
    messages = plan_messages(SecretUrl("mailto://127.0.0.1:2525?from=a@x.org&to=b@y.org"), d)
    assert messages is not None and len(messages) == 1  # email is never split
    assert messages[0].body_format == "html"
    assert messages[0].article_ids == d.article_ids  # the "+50 more" count as delivered
    assert messages[0].title == "wirewatch: 300 new stories for desk"


def test_webhook_digest_is_split_and_each_part_knows_its_articles() -> None:
    d = digest(300, max_items=250)
    messages = plan_messages(SecretUrl("json://127.0.0.1:8080/hook"), d)
    assert messages is not None and len(messages) > 1
    assert all(m.body_format == "markdown" and len(m.body) <= 32768 for m in messages)
    assert [m.title for m in messages] == [
        f"wirewatch: 300 new stories for desk ({i}/{len(messages)})"
        for i in range(1, len(messages) + 1)
    ]
    hidden = {story.lead.id for story in d.hidden}
    seen: set[str] = set()
    for m in messages:
        assert not (m.article_ids & seen), "an article in two parts would be recorded twice"
        seen |= m.article_ids
        for story in m.stories:
            assert (story.lead.id in hidden) or f"]({story.lead.link})" in m.body
    assert seen == d.article_ids
    assert messages[-1].body.endswith("+50 more stories")


def test_chat_limit_of_the_service_is_respected() -> None:
    messages = plan_messages(SecretUrl("discord://1234567/abcdefghijklmnop"), digest(30))
    assert messages is not None and len(messages) > 1
    assert all(len(m.body) <= 2000 for m in messages)


def test_console_gets_plain_text() -> None:
    messages = plan_messages(SecretUrl("console://"), digest(2))
    assert messages is not None and [m.body_format for m in messages] == ["text"]
    assert "https://news.example.org/0" in messages[0].body


def test_unusable_url_plans_nothing() -> None:
    assert plan_messages(SecretUrl("nosuchscheme://x"), digest(1)) is None


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        ("json://127.0.0.1:8080/hooks/T0KEN?:token=QSECRET", ["T0KEN", "QSECRET"]),
        ("mailto://user:P4ssw0rd@smtp.example.org:587?to=desk@example.org", ["P4ssw0rd", "desk"]),
        ("tgram://123456789:ABCdefGHIjkl/987654321", ["ABCdefGHIjkl", "987654321"]),
    ],
)
def test_errors_and_labels_never_show_the_secret_parts(url: str, secrets: list[str]) -> None:
    secret = SecretUrl(url)
    reason = f"could not post to {url} (" + ", ".join(secrets) + ")"
    scrubbed = _scrub(reason, secret)
    assert scrubbed.startswith("could not post to ")
    for piece in secrets:
        assert piece not in scrubbed
    assert target_label(secret) == url.split("://")[0]
