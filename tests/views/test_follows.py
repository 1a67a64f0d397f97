"""Following's pure builders (bot/views/follows.py) and the post-card modal's checkbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from slack_sdk.models.blocks import Block

from bot import ids
from bot.records import CustomerChoice, CustomerStanding, LicenseOverview
from bot.views.follows import (
    FOLLOWS_LISTED,
    FollowShown,
    build_follow_announcement,
    build_follow_paused,
    build_following,
    build_owner_told_of_unfollow,
    features_words,
    home_follow_blocks,
)
from bot.views.modals import (
    POST_CARD_BLOCKS,
    ModalContext,
    ModalForm,
    build_post_card_modal,
    refilled_modal,
)

CREATED = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def follow(follow_id: int = 1, **changes: object) -> FollowShown:
    fields: dict[str, object] = {
        "follow_id": follow_id,
        "customer_name": "Initech, LLC",
        "features": ("licenses", "expiry", "recon"),
        "daily": False,
        "owner_user_id": "U0JANE",
        "created_at": CREATED,
        "channel_id": "C0SALES",
        "thread_ts": None,
    }
    fields.update(changes)
    return FollowShown(**fields)  # type: ignore[arg-type]


def valid(blocks: list[Block]) -> list[dict]:
    as_dicts = [block.to_dict() for block in blocks]  # slack_sdk checks Slack's limits here
    for block in as_dicts:
        parsed = Block.parse(block)
        assert parsed is not None
    return as_dicts


def test_features_read_as_people_say_them_all_when_none_is_named() -> None:
    assert features_words(("recon", "licenses", "expiry")) == "renewals, expiry, reconciliations"
    assert features_words(()) == "renewals, trials, expiry, reconciliations, seats"


def test_the_channel_line_names_who_what_and_where_and_no_broadcast_gets_through() -> None:
    line = build_follow_announcement("U0JANE", "Initech, LLC", ("licenses",), in_thread=False)
    assert line.text == "<@U0JANE> is following *Initech, LLC* here: renewals"
    hostile = build_follow_announcement("U0JANE", "<!channel> @here *Acme*", (), in_thread=True)
    shown = json.dumps(valid(hostile.blocks))
    assert "<!channel>" not in shown and "in this thread" in shown


def test_the_following_list_has_an_unfollow_button_per_follow_and_says_how_many_more() -> None:
    follows = [follow(n, thread_ts="1700000000.000100" if n == 2 else None) for n in range(1, 45)]
    message = build_following(follows)
    blocks = valid(message.blocks)
    buttons = [b["accessory"] for b in blocks if b.get("accessory")]
    assert len(buttons) == FOLLOWS_LISTED and len(blocks) <= 50
    assert {button["action_id"] for button in buttons} == {ids.UNFOLLOW_ACTION}
    assert buttons[0]["value"] == "1"
    shown = json.dumps(blocks, ensure_ascii=False)
    assert "set up by <@U0JANE> on 2026-12-07" in shown and "(in a thread)" in shown
    assert "…and 4 more." in shown
    assert "follows no customer" in build_following([]).text


def test_app_home_shows_where_each_follow_posts_and_a_paused_ones_reason() -> None:
    blocks = valid(
        home_follow_blocks(
            [follow(), follow(2, state="paused", state_reason="is_archived", daily=True)], limit=20
        )
    )
    shown = json.dumps(blocks, ensure_ascii=False)
    assert (
        "*Initech, LLC* in <#C0SALES>: renewals, expiry, reconciliations · since 2026-12-07"
        in shown
    )
    assert "daily digest" in shown and "*paused*: the channel was archived" in shown


def test_the_owners_dms_say_what_stopped_and_why() -> None:
    told = build_owner_told_of_unfollow(
        "U0PAT", "Initech, LLC", "C0SALES", stopped=("trials",), still=("licenses",)
    )
    assert told.text == (
        "<@U0PAT> stopped trials of your follow of *Initech, LLC* in <#C0SALES>; "
        "still followed: renewals."
    )

    paused = build_follow_paused(["Initech, LLC", "Globex"], "C0SALES", "is_archived")
    assert paused.text == (
        "I've paused your follow of *Initech, LLC*, *Globex* in <#C0SALES>: the channel was "
        "archived. Nothing more is posted there. Once I can post there, follow again there "
        "with `/license follow`, or unfollow it from my Home tab."
    )


def test_the_paused_dm_says_where_and_why_for_every_reason_word() -> None:
    in_thread = build_follow_paused(["Acme"], "C0SALES", "external", in_thread=True)
    assert "in a thread in <#C0SALES>: shared with another organisation." in in_thread.text
    private = build_follow_paused(["Acme"], "G0DEALS", "requester_not_member")
    assert "its owner is no longer in the conversation" in private.text
    # A code with no words of its own is said as a card's refusal is (bot/views/posting.py).
    restricted = build_follow_paused(["Acme"], "C0SALES", "restricted_action")
    assert "in <#C0SALES>. Only some people can post in this channel" in restricted.text
    # The customer's trouble, not the conversation's: following again there is the fix.
    regrouped = build_follow_paused(["Acme"], "C0SALES", "ambiguous")
    assert "more than one customer" in regrouped.text
    assert "Follow the customer you mean again there" in regrouped.text
    for message in (in_thread, private, restricted, regrouped):
        said = message.to_dict()["blocks"][0]["text"]["text"]  # the text field is clipped
        assert "Nothing more is posted there" in said
        assert "unfollow it from my Home tab" in said


def test_the_post_card_modal_keeps_the_thread_updated_when_checked_and_refills_keeping_it() -> None:
    context = ModalContext(channel_id="C1", thread_ts="1700000000.000100")
    view = build_post_card_modal(context, follow_thread=True).to_dict()
    [checkbox] = [b for b in view["blocks"] if b.get("block_id") == ids.FOLLOW_THREAD_BLOCK]
    [option] = checkbox["element"]["initial_options"]
    state = {
        ids.CUSTOMER_BLOCK: {ids.CUSTOMER_SELECT_ACTION: {"selected_option": {"value": "sf:1"}}},
        ids.FOLLOW_THREAD_BLOCK: {ids.FOLLOW_THREAD_ACTION: {"selected_options": [option]}},
    }
    submitted = {**view, "state": {"values": state}}
    assert ModalForm.read(submitted, blocks=POST_CARD_BLOCKS).follow_thread is True
    unchecked = {**view, "state": {"values": {**state, ids.FOLLOW_THREAD_BLOCK: {}}}}
    assert ModalForm.read(unchecked, blocks=POST_CARD_BLOCKS).follow_thread is False
    junk = {ids.FOLLOW_THREAD_BLOCK: {ids.FOLLOW_THREAD_ACTION: {"selected_options": "yes"}}}
    form = ModalForm.read({**view, "state": {"values": junk}}, blocks=POST_CARD_BLOCKS)
    assert form.unreadable_block == ids.FOLLOW_THREAD_BLOCK

    choice = CustomerChoice(key="sf:1", name="Initech", standing=CustomerStanding.NONE)
    refilled = refilled_modal(submitted, choice, LicenseOverview())
    assert refilled is not None
    [kept] = [
        b for b in refilled.to_dict()["blocks"] if b.get("block_id") == ids.FOLLOW_THREAD_BLOCK
    ]
    assert kept["element"]["initial_options"] == [option]
