"""Slack's limits, checked on every card a test builds: `check_message` calls slack_sdk's
`to_dict()` (it raises SlackObjectFormationError on most limits), checks the bot's own
serialisation gives the same dict, and then checks the limits `to_dict()` does not; the only
links a card may carry are to LINKS."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.freshness import Freshness, FreshnessRule
from bot.links import Links
from bot.store.queries import LICENSE_CARD_KINDS
from bot.views.blocks import CardMessage

LINKS = Links(
    customersdot_url="https://customers.example.test",
    zuora_url="https://zuora.example.test",
    version_app_url="https://version.example.test",
    salesforce_url="https://salesforce.example.test",
)
LINK_BASES = (
    LINKS.customersdot_url,
    LINKS.zuora_url,
    LINKS.version_app_url,
    LINKS.salesforce_url,
)

# When the tests' cards are built: two hours after their data's time (tests/views' DATA_AS_OF).
CARD_NOW = datetime(2026, 2, 11, 8, 0, tzinfo=UTC)


def freshness_of(
    data_times: Mapping[str, datetime | None],
    kinds: Sequence[str] = LICENSE_CARD_KINDS,
    *,
    now: datetime = CARD_NOW,
    rule: FreshnessRule | None = None,
) -> Freshness:
    """A card's freshness as the use cases judge it (the default rule: 26 hours, nothing
    synced)."""
    return (rule or FreshnessRule()).judge(data_times, kinds, now=now)


def texts_of_block(block: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(kind, text) for every text object in a block dict."""
    if isinstance(block.get("text"), dict):
        yield block["text"]["type"], block["text"]["text"]
    for field in block.get("fields") or []:
        yield field["type"], field["text"]
    for element in block.get("elements") or []:
        if element.get("type") in {"mrkdwn", "plain_text"}:
            yield element["type"], element["text"]
        elif isinstance(element.get("text"), dict):
            yield element["text"]["type"], element["text"]["text"]
    accessory = block.get("accessory")
    if accessory and isinstance(accessory.get("text"), dict):
        yield accessory["text"]["type"], accessory["text"]["text"]


def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    texts = [message["text"]]
    for block in message["blocks"]:
        texts += [text for kind, text in texts_of_block(block) if kind == "mrkdwn"]
    return texts


def check_message(message: CardMessage) -> dict[str, Any]:
    """The message as Slack gets it, after checking every limit the API would enforce."""
    # slack_sdk's own to_dict (its validators run here), and what the bot sends (the same dict
    # by bot.views.blocks.block_dict, without slack_sdk's reflection on every object): the two
    # must agree on every card a test builds.
    as_dict = {"text": message.text, "blocks": [block.to_dict() for block in message.blocks]}
    assert message.to_dict() == as_dict
    blocks = as_dict["blocks"]
    assert 0 < len(blocks) <= 50
    assert 0 < len(as_dict["text"]) <= 3000
    block_ids = [block["block_id"] for block in blocks if "block_id" in block]
    assert len(block_ids) == len(set(block_ids)), "block_ids must be unique within a message"
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            assert 0 < len(block["text"]["text"]) <= 150
        if kind == "section":
            assert "text" in block or block.get("fields")
            if "text" in block:
                assert 0 < len(block["text"]["text"]) <= 3000
            fields = block.get("fields") or []
            assert len(fields) <= 10
            assert all(0 < len(field["text"]) <= 2000 for field in fields)
        if kind == "context":
            assert 0 < len(block["elements"]) <= 10
            assert all(0 < len(e.get("text", "x")) <= 3000 for e in block["elements"])
        if kind == "actions":
            assert 0 < len(block["elements"]) <= 25
        buttons = [e for e in block.get("elements") or [] if e.get("type") == "button"]
        if block.get("accessory", {}).get("type") == "button":
            buttons.append(block["accessory"])
        for button in buttons:
            assert 0 < len(button["text"]["text"]) <= 75
            assert len(button.get("value", "")) <= 2000
            assert len(button.get("url", "")) <= 3000
        action_ids = [button["action_id"] for button in buttons]
        assert len(action_ids) == len(set(action_ids)), f"duplicate action_id in {block}"
    for text in mrkdwn_texts(as_dict):
        assert_only_our_markup(text)
    return as_dict


_ANGLE = re.compile(r"<([^<>]*)>")
# The one date token cards use: a data time as "N hours ago" by the reader's clock, its fallback
# the age when the card was built (bot/views/freshness.py).
_DATA_AGE = re.compile(r"!date\^\d+\^\{ago\}")


def assert_only_our_markup(text: str, allowed_mentions: tuple[str, ...] = ()) -> None:
    """Every `<...>` in mrkdwn is a link we built or an intended mention; no stray `<`/`>`."""
    for token in _ANGLE.findall(text):
        target, _, label = token.partition("|")
        assert "|" not in label, f"a `|` in a label splits it: {token!r}"
        if target.startswith("@"):
            assert re.fullmatch(r"@[UW][A-Z0-9]+", target), token
            continue
        if target.startswith("!date^"):
            assert _DATA_AGE.fullmatch(target) and label.endswith(("ago", "just now")), token
            continue
        assert target.startswith(LINK_BASES) or target.startswith("mailto:"), token
    assert "<" not in _ANGLE.sub("", text) and ">" not in _ANGLE.sub("", text)
