"""The follow's message (bot/views/follow_updates.py): each event said as what changed."""

from __future__ import annotations

from bot.views.follow_updates import (
    LINES_SHOWN,
    FollowUpdate,
    follow_update_message,
    update_line,
)


def test_a_renewal_says_what_changed():
    facts = {"change": "renewed", "plan": "premium", "previous_plan": "premium", "seats": 300,
             "previous_seats": 250, "expires_on": "2027-12-25"}  # fmt: skip
    line = update_line(FollowUpdate("licenses", facts, "A-S00012345"))
    assert line == "renewed on A-S00012345: Premium 250 → 300 seats, to 2027-12-25"


def test_each_kind_in_words():
    assert (
        update_line(
            FollowUpdate("trials", {"plan": "ultimate", "users": 20, "ends_on": "2027-01-08"})
        )
        == "new trial: Ultimate, 20 users, ends on 2027-01-08"
    )
    assert (
        update_line(
            FollowUpdate(
                "expiry",
                {"threshold": 7, "plan": "premium", "seats": 100, "expires_on": "2026-12-17"},
                "A-S1",
            )
        )
        == "expires in 7 days on A-S1: Premium, 100 seats, on 2026-12-17"
    )
    assert "expired without a renewal" in update_line(
        FollowUpdate("expiry", {"threshold": "expired", "expires_on": "2026-12-01"})
    )
    assert update_line(
        FollowUpdate(
            "recon", {"status": "processed", "users": 55, "amount_minor": 431250, "currency": "USD"}
        )
    ).startswith("reconciliation completed: 55 users, ")
    assert update_line(FollowUpdate("recon", {"status": "failed", "error": "card_declined"})) == (
        "reconciliation failed: Card declined"
    )
    assert update_line(FollowUpdate("recon", {"status": "skipped"})).endswith("no reason given")
    assert (
        update_line(FollowUpdate("seats", {"in_use": 412, "bought": 400, "level": 100, "over": 12}))
        == "seats reached 100% of seats bought: 412 of 400 seats in use (12 over)"
    )


def test_one_message_for_many_events_with_the_customer_and_send_to_me():
    updates = [FollowUpdate("trials", {"plan": "premium", "users": 5})] * (LINES_SHOWN + 3)
    message = follow_update_message("Acme *Inc*", "sf:001", updates)
    blocks = message.to_dict()["blocks"]
    assert blocks[0]["text"]["text"] == "Acme *Inc*: update"
    assert "and 3 more changes" in blocks[1]["text"]["text"]
    assert blocks[2]["elements"][0]["value"] == "sf:001"
    assert message.text.startswith("Acme") and "(and 22 more)" in message.text
    assert "daily digest" in follow_update_message("Acme", "k", updates[:1], digest=True).text or (
        "daily digest"
        in str(follow_update_message("Acme", "k", updates[:1], digest=True).to_dict())
    )


def test_imported_words_cannot_broadcast_or_link_in_a_followed_channel():
    hostile = {"change": "renewed", "plan": "<!channel>", "previous_plan": "<https://evil|click>",
               "seats": 300, "previous_seats": 250, "expires_on": "2027-12-25"}  # fmt: skip
    for kind in ("licenses", "trials", "expiry"):
        line = update_line(FollowUpdate(kind, {**hostile, "threshold": 7}, "A-S1"))
        assert "<!" not in line and "<http" not in line, line
    message = follow_update_message("Acme", "sf:001", [FollowUpdate("licenses", hostile, "A-S1")])
    rendered = str(message.to_dict())
    assert "<!channel>" not in rendered and "<https://evil" not in rendered
