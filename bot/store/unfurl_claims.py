"""Which worker unfurls a link in a channel: one claim per (channel, link) within a window, so
that Slack's retries and two workers' deliveries of one `link_shared` unfurl it once
(bot/answers/unfurls.py decides what to unfurl)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from bot.store.db import dialect_insert, session_scope
from bot.store.models import UnfurlRecord, column_width

# A link unfurled in a channel is not unfurled there again within this window.
REPEAT_WINDOW = timedelta(minutes=30)
_CHANNEL_WIDTH = column_width(UnfurlRecord.channel_id)
_URL_WIDTH = column_width(UnfurlRecord.url)


def claim_unfurl(
    session_factory: sessionmaker[Session],
    channel_id: str,
    url: str,
    *,
    now: datetime,
    window: timedelta = REPEAT_WINDOW,
) -> bool:
    """True if this worker may unfurl `url` in `channel_id` now; False if it was within `window`.

    One upsert, atomic on both engines: the insert wins for the first claimant (primary key);
    an existing row is taken over only when it is older than `window` (the conflict's WHERE,
    checked under the row's lock); RETURNING gives a row back exactly when this call claimed.
    """
    channel_id, url = channel_id[:_CHANNEL_WIDTH], url[:_URL_WIDTH]
    with session_scope(session_factory) as session:
        statement = dialect_insert(session, UnfurlRecord).values(
            channel_id=channel_id, url=url, unfurled_at=now
        )
        claim = statement.on_conflict_do_update(
            index_elements=[UnfurlRecord.channel_id, UnfurlRecord.url],
            set_={"unfurled_at": statement.excluded.unfurled_at},
            where=UnfurlRecord.unfurled_at <= now - window,
        ).returning(UnfurlRecord.url)
        return session.execute(claim).first() is not None


def release_unfurl(
    session_factory: sessionmaker[Session], channel_id: str, url: str, *, claimed_at: datetime
) -> None:
    """Give back a claim that produced no unfurl; one taken over since (a later time) stays."""
    channel_id, url = channel_id[:_CHANNEL_WIDTH], url[:_URL_WIDTH]
    with session_scope(session_factory) as session:
        session.execute(
            delete(UnfurlRecord).where(
                UnfurlRecord.channel_id == channel_id,
                UnfurlRecord.url == url,
                UnfurlRecord.unfurled_at == claimed_at,
            )
        )
