"""The SYNC_ALERT_CHANNEL message: one section with its text as the fallback, the sync's line
escaped as text from outside."""

from __future__ import annotations

from slack_sdk.models.blocks import SectionBlock

from bot.views.blocks import SECTION_TEXT_MAX
from bot.views.sync_alerts import build_sync_alert


def test_a_failure_says_so_with_the_next_step_and_the_line_escaped():
    line = "licenses: failed, its last good data is kept: https://x.test/l.csv: <html> & <!channel>"
    message = build_sync_alert("started_failing", line)
    (block,) = message.blocks
    assert isinstance(block, SectionBlock) and block.text is not None
    assert block.text.text == message.text
    assert message.text.startswith(":warning: *Sync failing*: licenses: failed")
    # Nothing read as a link, a mention or a broadcast.
    assert "&lt;html&gt; &amp; &lt;!channel&gt;" in message.text
    assert "<" not in message.text.replace("&lt;", "")
    assert "no further alert until it recovers" in message.text
    assert "sync status" in message.text
    SectionBlock(**block.to_dict()).validate_json()


def test_a_recovery_is_one_line_and_a_long_line_is_cut_to_fit():
    recovered = build_sync_alert("recovered", "hosts: 12 rows from /srv/exports/usage_data.csv")
    # Underscores of a path stay as they are, so it can be copied.
    assert recovered.text == (
        ":white_check_mark: *Sync recovered*: hosts: 12 rows from /srv/exports/usage_data.csv"
    )
    long = build_sync_alert("started_failing", "licenses: " + "x" * 10_000)
    shown = long.blocks[0].to_dict()["text"]["text"]
    # The line is cut, not the next step after it.
    assert len(shown) <= SECTION_TEXT_MAX and shown.endswith("shows every kind)")
    assert "x…" in shown
