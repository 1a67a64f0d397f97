"""Link unfurls: a posted CustomersDot admin link gets the compact card under it.

    {CUSTOMERSDOT_URL}/admin/license/{id}         -> that license's customer, that license first
    {CUSTOMERSDOT_URL}/admin/reconciliation/{id}  -> that reconciliation

The allowlist middleware has already refused links shared by people who are not allowed. Here
the bot also fails closed wherever the card could reach people outside the organisation, or
somewhere it cannot check: an externally shared conversation (the envelope's
`is_ext_shared_channel`, or conversations.info saying so), a conversation conversations.info
cannot describe, and the message composer (`channel: "COMPOSER"`, `source: "composer"`), where
the message's eventual audience is unknown.

Our own limits, after GitHub's Slack app: at most 3 unfurls per message, and no repeat unfurl
of the same link in a conversation within 30 minutes. The repeat rule is a claim in the shared
store (`unfurl_record`), so it holds across workers and instances, and also drops Slack's
retries of an event that was already handled. A claim that produced no unfurl (the store could
not answer, the record is gone, or chat.unfurl was refused) is released, so the next person to
post the link gets its card instead of 30 minutes of silence.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from slack_sdk import WebClient
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot import ids
from bot.answers.audited import Requester
from bot.answers.conversations import Delivery, check_conversation
from bot.answers.lookups import LookupService
from bot.links import Links
from bot.outcomes import Outcome
from bot.store.unfurl_claims import claim_unfurl, release_unfurl

logger = logging.getLogger(__name__)

MAX_UNFURLS_PER_MESSAGE = 3
COMPOSER_CHANNEL = "COMPOSER"
COMPOSER_SOURCE = "composer"
_ADMIN_PATH = re.compile(
    rf"^/admin/(license|reconciliation)/([0-9]{{1,{ids.LICENSE_ID_DIGITS_MAX}}})/?$"
)

LinkKind = Literal["license", "reconciliation"]


@dataclass(frozen=True)
class AdminLink:
    """A CustomersDot admin link as posted (`url`, the unfurls key) and what it names."""

    kind: LinkKind
    record_id: int
    url: str


@dataclass(frozen=True)
class UnfurlPlan:
    """What to send to chat.unfurl: the message, and url -> {"blocks": [...]}; and the claims
    (canonical URLs, taken at `claimed_at`) to release if Slack does not take it."""

    channel: str
    ts: str
    unfurls: dict[str, dict[str, Any]]
    claimed_urls: tuple[str, ...]
    claimed_at: datetime


def parse_admin_link(url: str, customersdot_url: str) -> AdminLink | None:
    """The license or reconciliation a URL under `customersdot_url` names; None otherwise."""
    try:
        base = urlsplit(customersdot_url.rstrip("/"))
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if (parts.scheme.lower(), parts.netloc.lower()) != (base.scheme.lower(), base.netloc.lower()):
        return None
    if not parts.path.startswith(base.path):
        return None
    match = _ADMIN_PATH.match(parts.path[len(base.path) :])
    if match is None:
        return None
    kind: LinkKind = "license" if match.group(1) == "license" else "reconciliation"
    return AdminLink(kind=kind, record_id=int(match.group(2)), url=url)


def links_to_unfurl(links: Iterable[Mapping[str, Any]], customersdot_url: str) -> list[AdminLink]:
    """The first `MAX_UNFURLS_PER_MESSAGE` distinct admin links of a link_shared event."""
    found: list[AdminLink] = []
    seen: set[tuple[str, int]] = set()
    for entry in links:
        url = entry.get("url") if isinstance(entry, Mapping) else None
        if not isinstance(url, str):
            continue
        admin_link = parse_admin_link(url, customersdot_url)
        if admin_link is None or (admin_link.kind, admin_link.record_id) in seen:
            continue
        seen.add((admin_link.kind, admin_link.record_id))
        found.append(admin_link)
        if len(found) >= MAX_UNFURLS_PER_MESSAGE:
            break
    return found


def _blocked_reason(body: Mapping[str, Any], event: Mapping[str, Any]) -> str | None:
    if body.get("is_ext_shared_channel"):
        return "externally shared conversation"
    channel = event.get("channel")
    if not isinstance(channel, str) or not channel or channel == COMPOSER_CHANNEL:
        return "message composer"
    if event.get("source") == COMPOSER_SOURCE:
        return "message composer"
    if not isinstance(event.get("message_ts"), str) or not event.get("message_ts"):
        return "no message"
    return None


class Unfurler:
    """Turns a link_shared event into the chat.unfurl call to make, if any."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        lookups: LookupService,
        links: Links,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._lookups = lookups
        self._customersdot_url = links.customersdot_url
        self._links = links
        self._clock = clock or (lambda: datetime.now(UTC))

    def plan(
        self, body: Mapping[str, Any], client: WebClient, requester: Requester
    ) -> UnfurlPlan | None:
        """The unfurls for this event (each audited as `requester`, the request's actor), or
        None when nothing may be unfurled."""
        event = body.get("event")
        if not isinstance(event, Mapping):
            return None
        reason = _blocked_reason(body, event)
        if reason is not None:
            logger.info("unfurl skipped: %s", reason)
            return None
        admin_links = links_to_unfurl(event.get("links") or (), self._customersdot_url)
        if not admin_links:
            return None
        channel = str(event["channel"])
        # The one conversation check; the link's sharer posted in the conversation, so it is
        # theirs to read (an unfurl needs no member list).
        check = check_conversation(
            client, channel, requester_user_id=requester.user_id, delivery=Delivery.UNFURL
        )
        if not check.allowed:
            logger.info("unfurl skipped: conversation %s: %s", channel, check.reason)
            return None
        unfurls: dict[str, dict[str, Any]] = {}
        claimed: list[str] = []
        claimed_at = self._clock()
        for admin_link in admin_links:
            canonical = self._canonical_url(admin_link)
            if not self._claim(channel, canonical, claimed_at):
                continue
            if admin_link.kind == "license":
                answer = self._lookups.answer_license_link(
                    admin_link.record_id, admin_link.url, requester
                )
            else:
                answer = self._lookups.answer_reconciliation_link(
                    admin_link.record_id, admin_link.url, requester
                )
            if answer.outcome is Outcome.OK:
                unfurls[admin_link.url] = {"blocks": answer.message.blocks_as_dicts()}
                claimed.append(canonical)
            else:
                self._release(channel, (canonical,), claimed_at)
        if not unfurls:
            return None
        return UnfurlPlan(
            channel=channel,
            ts=str(event["message_ts"]),
            unfurls=unfurls,
            claimed_urls=tuple(claimed),
            claimed_at=claimed_at,
        )

    def not_taken(self, plan: UnfurlPlan) -> None:
        """chat.unfurl refused or failed: release the plan's claims so a later post unfurls."""
        self._release(plan.channel, plan.claimed_urls, plan.claimed_at)

    def _canonical_url(self, admin_link: AdminLink) -> str:
        # Claims are keyed by the canonical URL: the same license linked with another query
        # string or a trailing slash is the same link to the people reading the conversation.
        if admin_link.kind == "license":
            return self._links.license(admin_link.record_id)
        return self._links.reconciliation(admin_link.record_id)

    def _claim(self, channel: str, canonical: str, claimed_at: datetime) -> bool:
        try:
            return claim_unfurl(self._session_factory, channel, canonical, now=claimed_at)
        except SQLAlchemyError as error:
            # No claim, no unfurl: a store that cannot record it cannot answer it either.
            logger.error("unfurl claim failed: %s", type(error).__name__)
            return False

    def _release(self, channel: str, canonical_urls: Iterable[str], claimed_at: datetime) -> None:
        try:
            for canonical in canonical_urls:
                release_unfurl(self._session_factory, channel, canonical, claimed_at=claimed_at)
        except SQLAlchemyError as error:
            # The claim then simply expires after REPEAT_WINDOW (bot/store/unfurl_claims.py).
            logger.error("unfurl release failed: %s", type(error).__name__)
