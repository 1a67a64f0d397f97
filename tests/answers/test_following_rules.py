"""The rules of following that need no Slack: which thread a "Follow in this thread" click means,
and which events pause a conversation's follows (bot/answers/following.py)."""

from __future__ import annotations

from bot import ids
from bot.answers.following import button_thread, conversation_gone_reason

# ---- the button's thread, from the message Slack sent with the click --------------------------

BOT = {"UBOT", "BBOT"}


def _click(message: dict, *, value: str = "sf:1", **container: object) -> dict:
    return {
        "container": {"type": "message", "channel_id": "C1", "is_ephemeral": False, **container},
        "message": message,
        "actions": [{"action_id": ids.FOLLOW_IN_THREAD_ACTION, "value": value}],
    }


def _card(value: str = "sf:1", **fields: object) -> dict:
    button = {"type": "button", "action_id": ids.FOLLOW_IN_THREAD_ACTION, "value": value}
    return {
        "ts": "1700000050.000200",
        "bot_id": "BBOT",
        "blocks": [{"type": "actions", "elements": [button]}],
        **fields,
    }


def test_the_buttons_thread_is_the_cards_own_or_the_thread_under_it() -> None:
    in_thread = _card(thread_ts="1700000000.000100")
    assert button_thread(_click(in_thread), bot_ids=BOT, customer_value="sf:1") == (
        "C1",
        "1700000000.000100",
    )
    at_the_top = _card()
    assert button_thread(_click(at_the_top), bot_ids=BOT, customer_value="sf:1") == (
        "C1",
        "1700000050.000200",
    )


def test_a_button_not_on_the_bots_card_with_that_value_has_no_thread() -> None:
    card = _card()
    assert button_thread(_click(card), bot_ids=BOT, customer_value="sf:2") is None
    someone_elses = {**card, "bot_id": None, "user": "UOTHER"}
    assert button_thread(_click(someone_elses), bot_ids=BOT, customer_value="sf:1") is None
    ephemeral = _click(card, is_ephemeral=True)
    assert button_thread(ephemeral, bot_ids=BOT, customer_value="sf:1") is None
    in_a_view = {**_click(card), "container": {"type": "view", "view_id": "V1"}}
    assert button_thread(in_a_view, bot_ids=BOT, customer_value="sf:1") is None
    assert button_thread(_click({}), bot_ids=BOT, customer_value="sf:1") is None


def test_only_the_events_saying_the_bot_cannot_post_pause() -> None:
    assert (
        conversation_gone_reason({"type": "channel_archive"}, bot_user_id="UBOT") == "is_archived"
    )
    assert conversation_gone_reason({"type": "group_left"}, bot_user_id="UBOT") == "not_in_channel"
    left = {"type": "member_left_channel", "user": "UBOT"}
    assert conversation_gone_reason(left, bot_user_id="UBOT") == "not_in_channel"
    assert conversation_gone_reason({**left, "user": "U1"}, bot_user_id="UBOT") is None
    assert conversation_gone_reason({"type": "channel_shared"}, bot_user_id=None) == "external"
    assert conversation_gone_reason({"type": "channel_rename"}, bot_user_id="UBOT") is None
