"""Following a customer, driven as Slack drives it, on both engines (bot/answers/following.py).

Signed slash commands, button clicks, modal submissions and events through the WSGI app; the
stand-in answers the Web API (conversations.info as Slack answers a bot token) and records what
the bot posted. Lazy listeners are waited for (`drain`), never slept on.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot import ids
from bot.store import follows as follow_store
from bot.store.importing import import_file
from bot.views.modals import ModalContext
from tests.helpers.e2e_dataset import INITECH_EMAIL, write_dataset
from tests.helpers.events_harness import (
    ALLOWED,
    CHANNEL,
    INITECH_KEY,
    NOT_LISTED,
    EventsBot,
    app_home_opened,
    make_events_bot,
    validated_blocks,
)
from tests.helpers.import_files import license_row, write_csv
from tests.helpers.slack_requests import (
    block_actions_payload,
    interaction_body,
    slash_command_body,
    view_submission_payload,
)

COLLEAGUE = "UCOLLEAGUE"  # allowed by email: anyone allowed in the channel may unfollow
COLLEAGUE_EMAIL = "colleague@sales.example"
CONNECT_CHANNEL = "C0CONNECT"
PEOPLE_DM = "D0PEOPLE"  # a DM between two people: Slack shows the bot none of it
PARENT_TS = "1700000000.000100"
CARD_TS = "1700000050.000200"
INITECH_NAME = "Initech, LLC"
INITECH_SF = INITECH_KEY.removeprefix("sf:")
EVERYTHING = "renewals, trials, expiry, reconciliations, seats"


@pytest.fixture
def bot(settings, slack_standin, tmp_path) -> EventsBot:
    slack_standin.add_user(COLLEAGUE, email=COLLEAGUE_EMAIL)
    slack_standin.add_channel(CONNECT_CHANNEL, is_ext_shared=True, is_shared=True)
    events_bot = make_events_bot(
        settings, slack_standin, tmp_path, allowed_emails=frozenset({COLLEAGUE_EMAIL})
    )
    return events_bot


def command(bot: EventsBot, text: str, *, user_id: str = ALLOWED, channel_id: str = CHANNEL):
    body = slash_command_body(
        ids.LICENSE_COMMAND,
        text,
        user_id=user_id,
        channel_id=channel_id,
        response_url=bot.slack.response_url("cmd"),
    )
    response = bot.post(body)
    assert response.status == 200
    bot.drain()
    return response


def replies(bot: EventsBot, name: str = "cmd") -> list[dict[str, Any]]:
    bot.drain()
    return bot.slack.responses_to(name)


def text_of(message: dict[str, Any]) -> str:
    blocks = validated_blocks(message.get("blocks") or [])
    return message.get("text", "") + json.dumps(blocks, ensure_ascii=False)


def posts_into(bot: EventsBot, channel: str) -> list[dict[str, Any]]:
    bot.drain()
    return [
        call.params for call in bot.calls("chat.postMessage") if call.params["channel"] == channel
    ]


def follows_in(bot: EventsBot, channel: str = CHANNEL) -> list[follow_store.FollowRecord]:
    bot.drain()
    with bot.services.session_factory() as session:
        return follow_store.follows_in_conversation(session, channel)


def audited(bot: EventsBot) -> list[tuple[str, str, str | None, str | None]]:
    return [(row.surface, row.outcome, row.reason, row.user_id) for row in bot.audit_rows()]


# ---- /license follow in a channel -----------------------------------------------------------


def test_following_in_a_channel_answers_the_follower_and_tells_the_channel_once(bot):
    response = command(bot, "follow Initech")
    assert response.body == b""  # acked at once; the answer comes through the response_url

    [answer] = replies(bot)
    assert answer["response_type"] == "ephemeral"
    assert f"Following *{INITECH_NAME}* here: {EVERYTHING}" in text_of(answer)
    [line] = posts_into(bot, CHANNEL)
    assert line["text"] == f"<@{ALLOWED}> is following *{INITECH_NAME}* here: {EVERYTHING}"
    [follow] = follows_in(bot)
    assert (follow.customer_key, follow.thread_ts, follow.owner_user_id) == (
        INITECH_KEY,
        None,
        ALLOWED,
    )
    assert follow.features == ("licenses", "trials", "expiry", "recon", "seats")
    assert ("follow", "ok", None, ALLOWED) in audited(bot)

    # Following again says so, and the channel hears nothing more.
    bot.slack.clear()
    command(bot, "follow initech expiry --daily")
    [again] = replies(bot)
    assert "Now following" in text_of(again)
    assert posts_into(bot, CHANNEL) == []
    [follow] = follows_in(bot)
    assert follow.daily is True


def test_some_features_are_followed_by_name_and_said_in_the_channel_line(bot):
    command(bot, "follow Initech licenses expiry recon")
    [line] = posts_into(bot, CHANNEL)
    assert line["text"] == (
        f"<@{ALLOWED}> is following *{INITECH_NAME}* here: renewals, expiry, reconciliations"
    )
    [follow] = follows_in(bot)
    assert follow.features == ("licenses", "expiry", "recon")


def test_following_lists_what_the_channel_follows_with_who_and_when(bot):
    command(bot, "follow Initech")
    response = command(bot, "following")
    listed = response.json()
    assert listed["response_type"] == "ephemeral"
    shown = text_of(listed)
    assert INITECH_NAME in shown and f"set up by <@{ALLOWED}>" in shown
    [follow] = follows_in(bot)
    assert follow.created_at.date().isoformat() in shown
    assert any(
        element.get("action_id") == ids.UNFOLLOW_ACTION
        for block in listed["blocks"]
        for element in [block.get("accessory") or {}]
    )
    assert ("following", "ok", None, ALLOWED) in audited(bot)


def test_an_ambiguous_or_unknown_name_follows_nothing_and_says_why(bot):
    command(bot, "follow Nobody Such Company")
    [answer] = replies(bot)
    assert "No customer matches" in text_of(answer)
    assert follows_in(bot) == [] and posts_into(bot, CHANNEL) == []


def test_a_follow_command_that_cannot_be_read_is_answered_with_its_usage(bot):
    command(bot, 'follow "Initech" sometimes')
    [answer] = replies(bot)
    assert "unknown: sometimes" in text_of(answer)
    assert follows_in(bot) == []


# ---- unfollow --------------------------------------------------------------------------------


def test_another_allowed_user_unfollows_and_the_owner_is_told_by_dm(bot):
    command(bot, "follow Initech")
    bot.slack.clear()

    command(bot, "unfollow Initech", user_id=COLLEAGUE)

    [answer] = replies(bot)
    assert f"Stopped following *{INITECH_NAME}* here." in text_of(answer)
    assert follows_in(bot) == []
    [told] = posts_into(bot, f"D{ALLOWED}")
    assert (
        told["text"] == f"<@{COLLEAGUE}> stopped your follow of *{INITECH_NAME}* in <#{CHANNEL}>."
    )
    assert ("unfollow", "ok", None, COLLEAGUE) in audited(bot)


def test_unfollowing_some_features_keeps_the_rest(bot):
    command(bot, "follow Initech")
    command(bot, "unfollow Initech trials seats")
    assert "still following: renewals, expiry, reconciliations" in text_of(replies(bot)[-1])
    [follow] = follows_in(bot)
    assert follow.features == ("licenses", "expiry", "recon")
    # The owner stopped it: no DM to anyone.
    assert posts_into(bot, f"D{ALLOWED}") == []


def test_unfollowing_what_is_not_followed_says_so(bot):
    command(bot, "unfollow Initech")
    assert "isn't followed here" in text_of(replies(bot)[-1])


def test_someone_else_stopping_some_features_tells_the_owner_which(bot):
    command(bot, "follow Initech licenses trials expiry")
    command(bot, "unfollow Initech trials", user_id=COLLEAGUE)
    [told] = posts_into(bot, f"D{ALLOWED}")
    assert told["text"] == (
        f"<@{COLLEAGUE}> stopped trials of your follow of *{INITECH_NAME}* in <#{CHANNEL}>; "
        "still followed: renewals, expiry."
    )


def test_a_thread_follow_is_not_stopped_by_the_channels_unfollow(bot):
    card = post_card(bot)
    click_follow(bot, card)
    command(bot, "unfollow Initech")
    assert "followed in a thread here" in text_of(replies(bot)[-1])
    assert len(follows_in(bot)) == 1


def test_a_customer_regrouped_under_a_new_key_is_still_one_follow_here(bot, tmp_path):
    command(bot, "follow Initech licenses")
    # Initech's Salesforce account id changes: the customer rule keys it anew.
    (tmp_path / "again").mkdir()
    dataset = write_dataset(tmp_path / "again", datetime.now(UTC).date())["licenses"]
    regrouped = tmp_path / "regrouped.csv"
    regrouped.write_text(dataset.read_text().replace(INITECH_SF, "0016100000INITNW"))
    import_file(bot.services.session_factory, "licenses", regrouped)
    bot.slack.clear()

    command(bot, "follow Initech trials")
    assert f"Now following *{INITECH_NAME}* here: renewals, trials" in text_of(replies(bot)[-1])
    [follow] = follows_in(bot)
    assert follow.customer_key == "sf:0016100000INITNW"
    assert follow.features == ("licenses", "trials")
    assert posts_into(bot, CHANNEL) == []  # not a new follow: the channel hears nothing

    command(bot, "unfollow Initech")
    assert f"Stopped following *{INITECH_NAME}* here." in text_of(replies(bot)[-1])
    assert follows_in(bot) == []


# ---- where a follow may not go ----------------------------------------------------------------


def test_a_refused_user_cannot_follow(bot):
    response = command(bot, "follow Initech", user_id=NOT_LISTED)
    assert "not on the list" in response.text
    assert follows_in(bot) == [] and posts_into(bot, CHANNEL) == []
    assert [row[:2] for row in audited(bot)] == [(ids.LICENSE_COMMAND, "denied")]


def test_a_slack_connect_channel_cannot_be_followed(bot):
    command(bot, "follow Initech", channel_id=CONNECT_CHANNEL)
    [answer] = replies(bot)
    shown = text_of(answer)
    assert "Not following" in shown and "Slack Connect" in shown
    assert INITECH_NAME not in shown  # not even the name goes back there
    assert follows_in(bot, CONNECT_CHANNEL) == [] and posts_into(bot, CONNECT_CHANNEL) == []
    assert ("follow", "not_posted", "external", ALLOWED) in audited(bot)


def test_a_dm_between_people_cannot_be_followed(bot):
    command(bot, "follow Initech", channel_id=PEOPLE_DM)
    [answer] = replies(bot)
    assert "direct message between people" in text_of(answer)
    assert follows_in(bot, PEOPLE_DM) == [] and posts_into(bot, PEOPLE_DM) == []
    assert ("follow", "not_posted", "direct_message", ALLOWED) in audited(bot)


def test_a_channel_the_bot_is_not_in_cannot_be_followed(bot):
    bot.slack.add_channel("C0NOTIN", is_member=False)
    command(bot, "follow Initech", channel_id="C0NOTIN")
    assert "/invite @CustomersDot" in text_of(replies(bot)[-1])
    assert follows_in(bot, "C0NOTIN") == []


# ---- a customer named like a subcommand -------------------------------------------------------


def test_a_customer_named_following_is_looked_up_quoted(bot, tmp_path):
    rows = [
        license_row(
            7001,
            company="Following",
            contact_email="ops@following.example",
            zuora_subscription_id="",
            zuora_subscription_name="A-S00077001",
        )
    ]
    import_file(bot.services.session_factory, "licenses", write_csv(tmp_path / "f.csv", rows))

    card = command(bot, '"Following"').json()
    assert card["blocks"][0]["text"]["text"] == "Following"
    curly = command(bot, "“Following”").json()
    assert curly["blocks"][0]["text"]["text"] == "Following"
    # Unquoted, the word is the subcommand: what this channel follows.
    assert "This channel follows no customer" in text_of(command(bot, "following").json())


# ---- Follow in this thread (the button) and the post-card modal -------------------------------


def post_card(bot: EventsBot, *, follow_thread: bool = False) -> dict[str, Any]:
    """The message shortcut's modal submitted: the card posted into the thread."""
    state: dict[str, Any] = {
        ids.CUSTOMER_BLOCK: {
            ids.CUSTOMER_SELECT_ACTION: {
                "type": "external_select",
                "selected_option": {
                    "text": {"type": "plain_text", "text": "Initech"},
                    "value": INITECH_KEY,
                },
            }
        }
    }
    if follow_thread:
        option = {"text": {"type": "plain_text", "text": "Keep"}, "value": ids.FOLLOW_THREAD_OPTION}
        state[ids.FOLLOW_THREAD_BLOCK] = {
            ids.FOLLOW_THREAD_ACTION: {"type": "checkboxes", "selected_options": [option]}
        }
    payload = view_submission_payload(
        ids.POST_CARD_MODAL,
        state_values=state,
        private_metadata=ModalContext(channel_id=CHANNEL, thread_ts=PARENT_TS).encode(),
    )
    response = bot.post(interaction_body(payload))
    assert response.status == 200 and response.body == b"", response.text
    return posts_into(bot, CHANNEL)[0]


def blocks_of(post: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = post.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def follow_button_value(card: dict[str, Any]) -> str | None:
    for block in blocks_of(card):
        for element in block.get("elements") or []:
            if element.get("action_id") == ids.FOLLOW_IN_THREAD_ACTION:
                return str(element["value"])
    return None


def click_follow(
    bot: EventsBot,
    card: dict[str, Any],
    *,
    value: str | None = None,
    user_id: str = ALLOWED,
    author: dict[str, str] | None = None,
):
    """Click "Follow in this thread" on `card` as Slack sends it: the message it is on, as
    posted, in the payload."""
    message = {
        "type": "message",
        "subtype": "bot_message",
        "text": card["text"],
        "ts": CARD_TS,
        "thread_ts": card.get("thread_ts"),
        "blocks": blocks_of(card),
        **(author or {"user": "UBOT", "bot_id": "BBOT"}),
    }
    payload = block_actions_payload(
        ids.FOLLOW_IN_THREAD_ACTION,
        value=value if value is not None else follow_button_value(card),
        user_id=user_id,
        channel_id=CHANNEL,
        message_ts=CARD_TS,
        message=message,
        response_url=bot.slack.response_url("follow"),
    )
    response = bot.post(interaction_body(payload))
    assert response.status == 200
    bot.drain()


def test_following_in_a_thread_through_the_button_on_a_card_posted_there(bot):
    card = post_card(bot)
    assert card["thread_ts"] == PARENT_TS
    assert follow_button_value(card) == INITECH_KEY
    assert INITECH_EMAIL not in json.dumps(
        blocks_of(card)
    )  # the shared card's redaction, as before
    bot.slack.clear()

    click_follow(bot, card)

    [answer] = replies(bot, "follow")
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert f"Following *{INITECH_NAME}* in this thread" in text_of(answer)
    assert "Updates go to this thread only." in text_of(answer)
    [line] = posts_into(bot, CHANNEL)
    assert line["thread_ts"] == PARENT_TS
    assert (
        line["text"] == f"<@{ALLOWED}> is following *{INITECH_NAME}* in this thread: {EVERYTHING}"
    )
    [follow] = follows_in(bot)
    assert (follow.thread_ts, follow.customer_key, follow.owner_user_id) == (
        PARENT_TS,
        INITECH_KEY,
        ALLOWED,
    )
    assert (ids.FOLLOW_IN_THREAD_ACTION, "ok", None, ALLOWED) in audited(bot)


@pytest.mark.parametrize(
    "forgery",
    [
        {"value": "sf:0016100000GLOBEX"},  # another customer than the card's
        {"author": {"user": "UOTHER"}},  # a message someone else posted
    ],
    ids=["value", "author"],
)
def test_a_forged_follow_button_follows_nothing(bot, forgery):
    card = post_card(bot)
    bot.slack.clear()

    click_follow(bot, card, **forgery)

    [answer] = replies(bot, "follow")
    assert "not on a card I posted here" in text_of(answer)
    assert follows_in(bot) == [] and posts_into(bot, CHANNEL) == []
    assert (ids.FOLLOW_IN_THREAD_ACTION, "not_posted", "not_our_card", ALLOWED) in audited(bot)


def test_the_follow_button_rechecks_the_conversation(bot):
    card = post_card(bot)
    bot.slack.add_channel(CHANNEL, is_ext_shared=True, is_shared=True)  # shared since
    bot.slack.clear()
    click_follow(bot, card)
    assert "Slack Connect" in text_of(replies(bot, "follow")[-1])
    assert follows_in(bot) == []


def test_keep_this_thread_updated_follows_the_thread_the_card_is_posted_in(bot):
    card = post_card(bot, follow_thread=True)
    assert follow_button_value(card) is None  # already followed: no button to follow again
    [follow] = follows_in(bot)
    assert (follow.thread_ts, follow.customer_key) == (PARENT_TS, INITECH_KEY)
    [_, line] = posts_into(bot, CHANNEL)
    assert line["thread_ts"] == PARENT_TS
    assert (
        line["text"] == f"<@{ALLOWED}> is following *{INITECH_NAME}* in this thread: {EVERYTHING}"
    )


# ---- the bot can no longer post there -----------------------------------------------------


def test_an_archived_channel_pauses_its_follows_and_tells_the_owner_once(bot):
    command(bot, "follow Initech")
    bot.slack.clear()

    # Archived by someone not allowed to use the bot: the event still counts. Slack also tells
    # the bot it left; the follow is paused, its owner told, once.
    bot.event({"type": "channel_archive", "channel": CHANNEL, "user": NOT_LISTED})
    bot.drain()
    bot.event({"type": "channel_left", "channel": CHANNEL, "actor_id": NOT_LISTED})
    bot.drain()

    [follow] = follows_in(bot)
    assert (follow.state, follow.state_reason) == ("paused", "is_archived")
    [told] = posts_into(bot, f"D{ALLOWED}")
    assert INITECH_NAME in told["text"] and "archived" in told["text"]
    assert posts_into(bot, CHANNEL) == []


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"type": "channel_shared", "connected_team_id": "T0PARTNER"}, "external"),
        ({"type": "member_left_channel", "user": "UBOT", "channel_type": "C"}, "not_in_channel"),
        ({"type": "group_archive"}, "is_archived"),
    ],
)
def test_events_saying_the_bot_cannot_post_there_pause_the_follows(bot, event, reason):
    command(bot, "follow Initech")
    bot.event({**event, "channel": CHANNEL})
    bot.drain()
    [follow] = follows_in(bot)
    assert (follow.state, follow.state_reason) == ("paused", reason)


def test_two_events_for_one_removal_at_once_pause_and_tell_once(bot):
    command(bot, "follow Initech")
    bot.slack.clear()
    bot.event({"type": "channel_left", "channel": CHANNEL, "actor_id": NOT_LISTED})
    bot.event({"type": "member_left_channel", "user": "UBOT", "channel": CHANNEL})
    bot.drain()
    [follow] = follows_in(bot)
    assert (follow.state, follow.state_reason) == ("paused", "not_in_channel")
    assert len(posts_into(bot, f"D{ALLOWED}")) == 1


def test_someone_else_leaving_the_channel_pauses_nothing(bot):
    command(bot, "follow Initech")
    bot.slack.clear()
    bot.event({"type": "member_left_channel", "user": ALLOWED, "channel": CHANNEL})
    bot.drain()
    [follow] = follows_in(bot)
    assert follow.state == "active"
    assert bot.calls("chat.postMessage") == []


# ---- App Home -----------------------------------------------------------------------------------


def home_view(bot: EventsBot) -> dict[str, Any]:
    bot.drain()
    return bot.calls("views.publish")[-1].json_param("view")


def test_app_home_lists_my_follows_and_unfollows_one(bot):
    command(bot, "follow Initech")
    bot.event(app_home_opened())
    view = home_view(bot)
    [button] = [
        block["accessory"]
        for block in view["blocks"]
        if (block.get("accessory") or {}).get("action_id") == ids.UNFOLLOW_ACTION
    ]
    assert INITECH_NAME in json.dumps(view) and f"<#{CHANNEL}>" in json.dumps(view)

    payload = block_actions_payload(
        ids.UNFOLLOW_ACTION, value=button["value"], response_url=None, block_id="follow:1"
    )
    payload["container"] = {"type": "view", "view_id": "V0HOME"}
    payload["view"] = {"id": "V0HOME", "type": "home"}
    payload.pop("channel")
    payload.pop("message")
    assert bot.post(interaction_body(payload)).status == 200
    bot.drain()

    assert follows_in(bot) == []
    assert INITECH_NAME not in json.dumps(home_view(bot))
    assert (ids.UNFOLLOW_ACTION, "ok", None, ALLOWED) in audited(bot)


def test_an_unfollow_button_from_elsewhere_stops_no_one_elses_follow(bot):
    command(bot, "follow Initech")
    [follow] = follows_in(bot)
    # Someone else's follow id, clicked in another channel (a value is the clicker's to forge).
    payload = block_actions_payload(
        ids.UNFOLLOW_ACTION,
        value=str(follow.id),
        user_id=COLLEAGUE,
        channel_id="C0ELSEWHERE",
        is_ephemeral=True,
        response_url=bot.slack.response_url("unfollow"),
    )
    bot.post(interaction_body(payload))
    assert "not yours" in text_of(replies(bot, "unfollow")[-1])
    assert [f.id for f in follows_in(bot)] == [follow.id]


def test_the_following_lists_unfollow_button_works_in_its_channel(bot):
    command(bot, "follow Initech")
    [follow] = follows_in(bot)
    payload = block_actions_payload(
        ids.UNFOLLOW_ACTION,
        value=str(follow.id),
        user_id=COLLEAGUE,
        is_ephemeral=True,
        response_url=bot.slack.response_url("unfollow"),
    )
    bot.post(interaction_body(payload))
    assert "Stopped following" in text_of(replies(bot, "unfollow")[-1])
    assert follows_in(bot) == []
    assert [told["text"] for told in posts_into(bot, f"D{ALLOWED}")] == [
        f"<@{COLLEAGUE}> stopped your follow of *{INITECH_NAME}* in <#{CHANNEL}>."
    ]
