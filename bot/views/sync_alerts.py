"""The one line `python -m bot sync` posts to SYNC_ALERT_CHANNEL when a kind starts failing or
recovers (bot/cli/sync_alerts.py posts it).

Pure: the sync's own line in, a message out. That line names the kind and its source with the
credentials already masked; it is escaped here like any text from outside (an error message
may quote what a source answered).
"""

from __future__ import annotations

from bot.sync.run import SyncAlert
from bot.views.blocks import (
    SECTION_TEXT_MAX,
    CardMessage,
    escape_text,
    fallback_text,
    section_block,
)

_HEADLINES: dict[SyncAlert, str] = {
    "started_failing": ":warning: *Sync failing*",
    "recovered": ":white_check_mark: *Sync recovered*",
}
# What the operator does next: only a failure needs one.
_NEXT_STEP: dict[SyncAlert, str] = {
    "started_failing": " (no further alert until it recovers; "
    "`python -m bot sync status` shows every kind)",
    "recovered": "",
}


def build_sync_alert(alert: SyncAlert, line: str) -> CardMessage:
    """`:warning: *Sync failing*: licenses: failed, its last good data is kept: <why>`, or
    `:white_check_mark: *Sync recovered*: licenses: 1,204 rows from <source> in 3.1s`."""
    headline, next_step = _HEADLINES[alert], _NEXT_STEP[alert]
    room = SECTION_TEXT_MAX - len(headline) - len(next_step) - 10
    # markers=False: a path's underscores are kept as they are, so it can be copied.
    text = f"{headline}: {escape_text(line, room, markers=False)}{next_step}"
    return CardMessage(text=fallback_text(text), blocks=[section_block(text)])
