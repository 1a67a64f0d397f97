"""How old the data is, said on every surface that shows it, through the whole app on both
engines: each card's footer per kind, a stale kind said first (ephemeral, shared into a channel,
unfurled, App Home), from the source's own time where the import recorded one; a stale store
still serves (/readyz)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from bot import ids
from bot.config import Settings
from bot.store.models import ImportRun
from tests.helpers.events_harness import (
    CUSTOMERSDOT,
    INITECH_KEY,
    EventsBot,
    app_home_opened,
    link_shared,
    make_events_bot,
    validated_blocks,
    validated_view,
)
from tests.helpers.slack_standin import SlackStandIn

NOT_TOLD = "Ask whoever imports the data to refresh it."


def data_aged(bot: EventsBot, kind: str, *, finished: timedelta, source: timedelta | None) -> None:
    """Every import of `kind` as if it finished `finished` ago, of data its source had `source`
    ago (None: imported by hand, no source time)."""
    now = datetime.now(UTC)
    with bot.services.session_factory() as session:
        session.execute(
            update(ImportRun)
            .where(ImportRun.kind == kind)
            .values(
                finished_at=now - finished,
                source_time=None if source is None else now - source,
            )
        )
        session.commit()


def stale_store_bot(
    settings: Settings, slack: SlackStandIn, tmp_path: Path, **changes: Any
) -> EventsBot:
    """The shared data set, stale past 1.5 hours: the licenses imported five minutes ago from
    an export two hours old (the source's time counts), usage pings and reconciliations
    imported by hand two hours ago."""
    bot = make_events_bot(settings, slack, tmp_path, stale_after_hours=1.5, **changes)
    data_aged(bot, "licenses", finished=timedelta(minutes=5), source=timedelta(hours=2))
    for kind in ("hosts", "reconciliations"):
        data_aged(bot, kind, finished=timedelta(hours=2), source=None)
    return bot


def banner_of(blocks: list[dict[str, Any]]) -> str:
    [banner] = [block for block in blocks if block.get("block_id") == ids.STALE_BLOCK]
    return str(banner["text"]["text"])


def test_a_stale_card_says_so_first_as_an_answer_and_shared_into_a_channel(
    settings, slack_standin, tmp_path
):
    bot = stale_store_bot(settings, slack_standin, tmp_path)
    message = bot.command("/license", "initech").json()
    blocks = validated_blocks(message["blocks"])
    assert blocks[1]["block_id"] == ids.STALE_BLOCK  # under the header, before any license
    assert banner_of(blocks) == (
        "⚠️ *Stale:* licenses are 2 hours old and usage pings 2 hours (data older than "
        f"1.5 hours is stale). {NOT_TOLD}"
    )
    assert message["text"].startswith("⚠️ Stale: licenses are 2 hours old")
    footer = json.dumps(blocks[-1], ensure_ascii=False)
    assert "no subscriptions data" in footer and "|2 hours ago>" in footer

    bot.click(
        ids.LICENSE_SHARE_ACTION,
        INITECH_KEY,
        is_ephemeral=True,
        response_url=bot.slack.response_url("share"),
    )
    [shared] = wait_for_responses(bot, "share")
    assert shared["response_type"] == "in_channel"
    assert banner_of(validated_blocks(shared["blocks"])).startswith("⚠️ *Stale:* licenses")
    assert shared["text"].startswith("⚠️ Stale:")


def test_stale_reconciliations_unfurls_and_app_home_say_so_too(settings, slack_standin, tmp_path):
    bot = stale_store_bot(settings, slack_standin, tmp_path)
    recon = bot.command("/recon", "initech").json()
    assert banner_of(validated_blocks(recon["blocks"])).startswith(
        "⚠️ *Stale:* reconciliations are 2 hours old"
    )

    bot.event(link_shared(f"{CUSTOMERSDOT}/admin/license/9000"))
    bot.event(
        link_shared(f"{CUSTOMERSDOT}/admin/reconciliation/502", message_ts="1700000000.000300")
    )
    bot.drain()
    unfurled = [call.json_param("unfurls") for call in bot.calls("chat.unfurl")]
    assert len(unfurled) == 2
    for unfurls in unfurled:
        [unfurl] = unfurls.values()
        assert unfurl["blocks"][0]["block_id"] == ids.STALE_BLOCK

    bot.slack.clear()
    bot.event(app_home_opened())
    bot.drain()
    [publish] = bot.calls("views.publish")
    view = validated_view(publish.json_param("view"))
    assert banner_of(view["blocks"]).startswith(
        "⚠️ *Stale:* licenses are 2 hours old, usage pings 2 hours and reconciliations 2 hours"
    )


def test_a_synced_kind_says_the_operator_has_been_told(settings, slack_standin, tmp_path):
    bot = stale_store_bot(
        settings, slack_standin, tmp_path, sync_licenses=str(tmp_path / "licenses.csv")
    )
    message = bot.command("/license", "initech").json()
    assert banner_of(message["blocks"]).endswith(
        "The operator has been told about licenses; ask whoever imports usage pings to "
        "refresh them."
    )


def test_data_younger_than_the_threshold_is_not_stale(settings, slack_standin, tmp_path):
    bot = make_events_bot(settings, slack_standin, tmp_path, stale_after_hours=1.5)
    for kind in ("licenses", "hosts"):
        data_aged(bot, kind, finished=timedelta(minutes=80), source=None)
    message = bot.command("/license", "initech").json()
    assert ids.STALE_BLOCK not in [block.get("block_id") for block in message["blocks"]]
    assert not message["text"].startswith("⚠️")
    assert "Licenses as of <!date^" in json.dumps(message["blocks"][-1], ensure_ascii=False)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_stale_store_is_still_ready(settings, slack_standin, tmp_path, method):
    bot = stale_store_bot(settings, slack_standin, tmp_path)
    captured: dict[str, str] = {}
    environ = {"REQUEST_METHOD": method, "PATH_INFO": "/readyz"}
    body = b"".join(bot.wsgi(environ, lambda status, headers: captured.update(status=status)))
    assert captured["status"] == "200 OK"
    if method == "GET":
        assert json.loads(body) == {"ready": True, "store": "ok"}


def wait_for_responses(bot: EventsBot, name: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        bot.drain()
        posts = bot.slack.responses_to(name)
        if posts:
            return posts
        time.sleep(0.02)
    raise AssertionError(f"no response_url post to {name!r} within 10 s")
