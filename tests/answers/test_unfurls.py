"""Link unfurls: CustomersDot admin links get the compact card, redacted by the one rule, only
for allowed people, only in internal conversations, at most 3 a message, never twice in 30 min.

End-to-end tests drive signed link_shared events through the WSGI app against the loopback
Slack stand-in, on both engines.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot.answers.unfurls import (
    MAX_UNFURLS_PER_MESSAGE,
    AdminLink,
    links_to_unfurl,
    parse_admin_link,
)
from bot.store.models import UnfurlRecord
from bot.store.unfurl_claims import claim_unfurl
from tests.helpers.e2e_dataset import ALL_CONTACT_EMAILS, INITECH_EMAIL
from tests.helpers.events_harness import (
    ALLOWED,
    CHANNEL,
    CUSTOMERSDOT,
    GUEST,
    NOT_LISTED,
    EventsBot,
    link_shared,
    make_events_bot,
    shown,
    validated_blocks,
)

LICENSE_9000 = f"{CUSTOMERSDOT}/admin/license/9000"
LICENSE_9001 = f"{CUSTOMERSDOT}/admin/license/9001"
RECON_502 = f"{CUSTOMERSDOT}/admin/reconciliation/502"


# ---- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (LICENSE_9001, ("license", 9001)),
        (f"{LICENSE_9001}/", ("license", 9001)),
        (f"{LICENSE_9001}?tab=hosts#top", ("license", 9001)),
        ("HTTPS://Customers.GitLab.com/admin/license/9001", ("license", 9001)),
        (RECON_502, ("reconciliation", 502)),
        ("http://customers.gitlab.com/admin/license/9001", None),  # another origin
        ("https://customers.gitlab.com.evil.example/admin/license/9001", None),
        ("https://evil.example/customers.gitlab.com/admin/license/9001", None),
        ("https://customers.gitlab.com/admin/license/abc", None),
        ("https://customers.gitlab.com/admin/license/9001/edit", None),
        ("https://customers.gitlab.com/admin/customer/7", None),
        ("https://customers.gitlab.com/admin/license/", None),
        ("not a url", None),
    ],
)
def test_admin_links_are_recognised_only_under_customersdot(url, expected):
    parsed = parse_admin_link(url, CUSTOMERSDOT)
    assert (None if parsed is None else (parsed.kind, parsed.record_id)) == expected
    if parsed is not None:
        assert parsed.url == url  # the unfurls key must be the URL exactly as posted


def test_a_customersdot_url_with_a_path_prefix_is_honoured():
    base = "https://cdot.example.test/staging"
    assert parse_admin_link(f"{base}/admin/license/5", base) == AdminLink(
        "license", 5, f"{base}/admin/license/5"
    )
    assert parse_admin_link("https://cdot.example.test/admin/license/5", base) is None


def test_at_most_three_distinct_links_per_message():
    urls = [LICENSE_9001, f"{LICENSE_9001}/", RECON_502, "https://example.com/x", LICENSE_9000]
    urls += [f"{CUSTOMERSDOT}/admin/license/{n}" for n in range(1, 5)]
    found = links_to_unfurl([{"url": url} for url in urls], CUSTOMERSDOT)
    assert len(found) == MAX_UNFURLS_PER_MESSAGE
    assert [(link.kind, link.record_id) for link in found] == [
        ("license", 9001),
        ("reconciliation", 502),
        ("license", 9000),
    ]


# ---- the repeat claim, on both engines ---------------------------------------------------------


def test_a_link_is_claimed_once_per_conversation_per_30_minutes(session_factory):
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert claim_unfurl(session_factory, CHANNEL, LICENSE_9001, now=now) is True
    assert claim_unfurl(session_factory, CHANNEL, LICENSE_9001, now=now) is False
    later = now + timedelta(minutes=29)
    assert claim_unfurl(session_factory, CHANNEL, LICENSE_9001, now=later) is False
    assert claim_unfurl(session_factory, "C0OTHER", LICENSE_9001, now=later) is True
    assert claim_unfurl(session_factory, CHANNEL, LICENSE_9000, now=later) is True
    after = now + timedelta(minutes=30, seconds=1)
    assert claim_unfurl(session_factory, CHANNEL, LICENSE_9001, now=after) is True
    # The row now says `after`: the window starts again from the latest unfurl.
    assert claim_unfurl(session_factory, CHANNEL, LICENSE_9001, now=after) is False


def _is_a_write(statement: str) -> bool:
    return statement.lstrip().upper().startswith(("INSERT", "UPDATE"))


def test_a_claim_is_one_upsert_statement(engine, session_factory):
    """A repeat claim (the common case: a link posted again) is one INSERT … ON CONFLICT DO
    UPDATE … WHERE, not an insert that fails on the key and then an update."""
    from tests.helpers.sql_capture import captured_statements

    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    for at, claimed in [
        (now, True),
        (now + timedelta(minutes=1), False),
        (now + timedelta(minutes=31), True),
    ]:
        with captured_statements(engine, _is_a_write) as statements:
            assert claim_unfurl(session_factory, CHANNEL, LICENSE_9001, now=at) is claimed
        assert len(statements) == 1, statements
        assert "ON CONFLICT" in statements[0].upper()


def test_an_overlong_link_is_claimed_clipped_to_the_models_widths(session_factory):
    from sqlalchemy import select

    from bot.store.models import UnfurlRecord, column_width
    from bot.store.unfurl_claims import release_unfurl

    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    channel, url = "C" * 40, LICENSE_9001 + "?" + "q" * 1200
    assert claim_unfurl(session_factory, channel, url, now=now) is True
    assert claim_unfurl(session_factory, channel, url, now=now) is False
    with session_factory() as session:
        row = session.execute(select(UnfurlRecord.channel_id, UnfurlRecord.url)).one()
    assert len(row.channel_id) == column_width(UnfurlRecord.channel_id)
    assert len(row.url) == column_width(UnfurlRecord.url)
    release_unfurl(session_factory, channel, url, claimed_at=now)
    assert claim_unfurl(session_factory, channel, url, now=now) is True


# ---- end to end --------------------------------------------------------------------------------


@pytest.fixture
def bot(settings, slack_standin, tmp_path) -> EventsBot:
    return make_events_bot(settings, slack_standin, tmp_path)


def unfurls_sent(bot: EventsBot) -> list[dict]:
    bot.drain()
    return [call.json_param("unfurls") for call in bot.calls("chat.unfurl")]


def test_a_license_link_unfurls_that_license_of_its_customer_without_emails(bot):
    response = bot.event(link_shared(LICENSE_9000))
    assert response.status == 200
    [unfurls] = unfurls_sent(bot)
    [call] = bot.calls("chat.unfurl")
    assert (call.params["channel"], call.params["ts"]) == (CHANNEL, "1700000000.000100")
    assert list(unfurls) == [LICENSE_9000]
    blocks = validated_blocks(unfurls[LICENSE_9000]["blocks"])
    text = shown(blocks)
    assert "Initech" in text
    assert "#9000" in text and "Expired" in text  # the linked license is the one featured
    assert "Current license" in text and "#9001" in text  # and the active one is named
    assert "Peter Gibbons" in text
    for email in ALL_CONTACT_EMAILS:
        assert email not in text  # one redaction rule: a conversation sees no emails
    assert "Licenses as of" in text
    assert [c.params.get("channel") for c in bot.calls("conversations.info")] == [CHANNEL]
    [row] = [row for row in bot.audit_rows() if row.surface == "link_shared"]
    assert (row.outcome, row.user_id, row.channel_id, row.query) == (
        "ok",
        ALLOWED,
        CHANNEL,
        LICENSE_9000,
    )


def test_contact_emails_appear_when_the_deployment_allows_them_in_channels(
    settings, slack_standin, tmp_path
):
    bot = make_events_bot(settings, slack_standin, tmp_path, show_contact_emails_in_channels=True)
    bot.event(link_shared(LICENSE_9001))
    [unfurls] = unfurls_sent(bot)
    assert INITECH_EMAIL in shown(unfurls)


def test_a_reconciliation_link_unfurls_that_reconciliation(bot):
    bot.event(link_shared(RECON_502))
    [unfurls] = unfurls_sent(bot)
    text = shown(validated_blocks(unfurls[RECON_502]["blocks"]))
    assert "Initech" in text and "Zuora rejected the amendment" in text
    assert "$4,312.50" not in text  # another reconciliation of the customer: not this card


def test_only_three_links_of_a_message_unfurl(bot):
    extra = [f"{CUSTOMERSDOT}/admin/license/{n}" for n in (9100, 9200)]
    bot.event(link_shared(LICENSE_9001, RECON_502, LICENSE_9000, *extra))
    [unfurls] = unfurls_sent(bot)
    assert list(unfurls) == [LICENSE_9001, RECON_502, LICENSE_9000]


def test_the_same_link_is_not_unfurled_again_in_a_conversation_within_30_minutes(bot):
    bot.event(link_shared(LICENSE_9001, message_ts="1700000000.000100"))
    bot.event(link_shared(LICENSE_9001, message_ts="1700000000.000200"))
    bot.slack.add_channel("C0OTHER")
    bot.event(link_shared(LICENSE_9001, channel="C0OTHER"))
    bot.drain()
    # The three events' lazy listeners run concurrently: one of the two C0SALES ones wins.
    assert sorted(call.params["channel"] for call in bot.calls("chat.unfurl")) == [
        "C0OTHER",
        CHANNEL,
    ]

    with bot.services.session_factory() as session:
        session.execute(
            update(UnfurlRecord)
            .where(UnfurlRecord.channel_id == CHANNEL)
            .values(unfurled_at=datetime.now(UTC) - timedelta(minutes=31))
        )
        session.commit()
    bot.event(link_shared(LICENSE_9001, message_ts="1700000000.000300"))
    bot.drain()
    assert [call.params["ts"] for call in bot.calls("chat.unfurl")][-1] == "1700000000.000300"


@pytest.mark.parametrize(
    ("kind", "times", "error"),
    # A 5xx is retried once, then given up; an ok:false answer is not retried.
    [("server_error", 2, "internal_error"), ("error", 1, "cannot_unfurl_url")],
)
def test_a_link_slack_would_not_unfurl_is_unfurled_when_posted_again(bot, kind, times, error):
    bot.slack.fail("chat.unfurl", kind, times=times, error=error)
    bot.event(link_shared(LICENSE_9001, message_ts="1700000000.000100"))
    bot.drain()
    assert bot.calls("chat.unfurl") != []
    bot.slack.clear()
    bot.event(link_shared(LICENSE_9001, message_ts="1700000000.000200"))
    bot.drain()
    [call] = bot.calls("chat.unfurl")
    assert call.params["ts"] == "1700000000.000200"


def test_a_link_that_could_not_be_answered_is_not_held_for_30_minutes(bot):
    missing = f"{CUSTOMERSDOT}/admin/license/424242"
    bot.event(link_shared(missing, message_ts="1700000000.000100"))
    bot.drain()
    assert bot.calls("chat.unfurl") == []
    with bot.services.session_factory() as session:
        assert session.scalars(select(UnfurlRecord)).all() == []


@pytest.mark.parametrize("user", [NOT_LISTED, GUEST])
def test_links_shared_by_refused_people_are_not_unfurled(bot, user):
    assert bot.event(link_shared(LICENSE_9001, user=user)).status == 200
    bot.drain()
    assert bot.calls("chat.unfurl") == [] and bot.calls("conversations.info") == []
    assert [(row.surface, row.outcome) for row in bot.audit_rows()] == [("link_shared", "denied")]


def test_nothing_unfurls_in_an_externally_shared_conversation(bot):
    bot.event(link_shared(LICENSE_9001), is_ext_shared_channel=True)
    bot.drain()
    assert bot.calls("chat.unfurl") == [] and bot.calls("conversations.info") == []
    assert [row.surface for row in bot.audit_rows()] == []  # no lookup was made


def test_nothing_unfurls_where_conversations_info_says_shared_or_cannot_tell(bot):
    bot.slack.add_channel("C0CONNECT", is_shared=True, is_ext_shared=True)
    bot.slack.add_channel("C0PENDING", is_pending_ext_shared=True)
    # Shared, and not within this Enterprise organisation: another organisation is in it.
    bot.slack.add_channel("C0OTHERORG", is_shared=True, is_org_shared=False)
    bot.event(link_shared(LICENSE_9001, channel="C0CONNECT"))
    bot.event(link_shared(LICENSE_9001, channel="C0PENDING"))
    bot.event(link_shared(LICENSE_9001, channel="C0OTHERORG"))
    bot.event(link_shared(LICENSE_9001, channel="C0UNKNOWN"))  # channel_not_found
    bot.drain()  # the failure below is for the next call only
    bot.slack.fail("conversations.info", "server_error", times=5)
    bot.event(link_shared(LICENSE_9001, channel=CHANNEL))
    bot.drain()
    assert len(bot.calls("conversations.info")) >= 5
    assert bot.calls("chat.unfurl") == []


def test_unfurls_follow_the_one_conversation_check(bot):
    # check_conversation's rule, not a second one: an archived channel takes no card, and a
    # public channel the bot is not in does (Slack attaches the preview to the message).
    bot.slack.add_channel("C0ARCHIVED", is_archived=True)
    bot.slack.add_channel("C0PUBLIC", is_private=False, is_member=False)
    bot.event(link_shared(LICENSE_9001, channel="C0ARCHIVED"))
    bot.drain()
    assert bot.calls("chat.unfurl") == []
    bot.event(link_shared(LICENSE_9001, channel="C0PUBLIC"))
    bot.drain()
    assert [call.params["channel"] for call in bot.calls("chat.unfurl")] == ["C0PUBLIC"]


def test_a_link_in_the_message_composer_fails_closed(bot):
    composer = link_shared(
        LICENSE_9001,
        channel="COMPOSER",
        message_ts="U0ALLOWED-909b5454-75f8-4ac4-b325-1b40e230bbd8",
        source="composer",
    )
    assert bot.event(composer).status == 200
    bot.drain()
    assert bot.calls("chat.unfurl") == [] and bot.calls("conversations.info") == []


def test_links_to_unknown_records_and_other_pages_are_not_unfurled(bot):
    bot.event(link_shared(f"{CUSTOMERSDOT}/admin/license/123456"))
    bot.event(link_shared(f"{CUSTOMERSDOT}/admin/customer/9001"))
    bot.drain()
    assert bot.calls("chat.unfurl") == []
    assert [(row.surface, row.outcome) for row in bot.audit_rows()] == [
        ("link_shared", "not_found")
    ]
