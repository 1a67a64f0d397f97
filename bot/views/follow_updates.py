"""The message a follow posts (issue "Deal threads that keep themselves current"): one small
card per delivery, however many events it carries — the customer's name, one line per event,
and **Open the full card**, which shows whoever presses it the customer's card, ephemeral where
the update is (handlers/actions.py). Pure: facts in, Block Kit out.

What goes in is already in the shared-card redaction: the events' facts carry no contact names,
emails or notes (bot/store/importing/follow_events.py, bot/store/follow_dates.py), and the
free text they do carry (a reconciliation's error or skip reason) has its emails hidden by the
caller (bot/answers/redaction.py) before it gets here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, PlainTextObject

from bot import ids
from bot.views.blocks import (
    PLAN_MAX,
    CardMessage,
    context_block,
    escape_text,
    format_money,
    header_block,
    plan_label,
    plural,
    section_block,
    sentence,
)

# A message carries this many event lines at most; the rest are counted ("and 3 more").
LINES_SHOWN = 20
_ICONS = {"licenses": "🔁", "trials": "🧪", "expiry": "⏳", "recon": "🧾", "seats": "👥"}


@dataclass(frozen=True)
class FollowUpdate:
    """One event as the message says it: its feature word and its facts."""

    kind: str
    facts: Mapping[str, Any]
    subscription_name: str | None = None


def _plan(value: object) -> str:
    """A plan's words, escaped like every imported value: a plan named `<!channel>` must not
    reach a followed channel as a broadcast."""
    return escape_text(plan_label(value if isinstance(value, str) else None), PLAN_MAX)


def _date(value: object) -> str:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            return escape_text(value, 32)
    return "?"


def _seats(value: object) -> str:
    return plural(value, "seat") if isinstance(value, int) else "seats unknown"


def _on(subscription: str | None) -> str:
    return f" on {escape_text(subscription, 64)}" if subscription else ""


def update_line(update: FollowUpdate) -> str:
    """One event in words, e.g. "renewed: Premium 250 → 300 seats, to 2027-12-25"."""
    facts = update.facts
    where = _on(update.subscription_name)
    if update.kind == "licenses":
        return _license_line(facts, where)
    if update.kind == "trials":
        return (
            f"new trial: {_plan(facts.get('plan'))}, {plural_or(facts.get('users'), 'user')}, "
            f"ends on {_date(facts.get('ends_on'))}"
        )
    if update.kind == "expiry":
        threshold = facts.get("threshold")
        plan = _plan(facts.get("plan"))
        expires = _date(facts.get("expires_on"))
        if threshold == "expired":
            return f"expired without a renewal{where}: {plan}, on {expires}"
        days = plural(threshold, "day") if isinstance(threshold, int) else "days"
        return f"expires in {days}{where}: {plan}, {_seats(facts.get('seats'))}, on {expires}"
    if update.kind == "recon":
        return _recon_line(facts, where)
    if update.kind == "seats":
        in_use, bought = facts.get("in_use"), facts.get("bought")
        level = facts.get("level")
        over = facts.get("over") or 0
        words = f"{in_use:,} of {bought:,} seats in use" if _ints(in_use, bought) else "seats"
        extra = f" ({over:,} over)" if isinstance(over, int) and over > 0 else ""
        return f"seats reached {level}% of seats bought{where}: {words}{extra}"
    return escape_text(update.kind, 32)


def _ints(*values: object) -> bool:
    return all(isinstance(value, int) for value in values)


def plural_or(value: object, word: str) -> str:
    return plural(value, word) if isinstance(value, int) else f"{word}s unknown"


def _license_line(facts: Mapping[str, Any], where: str) -> str:
    change = str(facts.get("change") or "new license")
    plan, previous_plan = _plan(facts.get("plan")), facts.get("previous_plan")
    seats, previous_seats = facts.get("seats"), facts.get("previous_seats")
    plans = plan
    if previous_plan and _plan(previous_plan) != plan:
        plans = f"{_plan(previous_plan)} → {plan}"
    if _ints(seats, previous_seats) and seats != previous_seats:
        counted = f"{previous_seats:,} → {seats:,} seats"
    else:
        counted = _seats(seats)
    until = f", to {_date(facts.get('expires_on'))}" if facts.get("expires_on") else ""
    trueup = facts.get("trueup_quantity")
    extra = f" (true-up {trueup:,})" if isinstance(trueup, int) and trueup else ""
    return f"{escape_text(change, 32)}{where}: {plans} {counted}{until}{extra}"


def _recon_line(facts: Mapping[str, Any], where: str) -> str:
    status = facts.get("status")
    if status == "processed":
        parts = []
        if isinstance(facts.get("users"), int):
            parts.append(plural(facts["users"], "user"))
        if isinstance(facts.get("amount_minor"), int):
            parts.append(format_money(facts["amount_minor"], facts.get("currency")))
        return f"reconciliation completed{where}" + (f": {', '.join(parts)}" if parts else "")
    if status == "failed":
        return f"reconciliation failed{where}: {sentence(facts.get('error')) or 'no error given'}"
    reason = sentence(facts.get("skip_reason")) or "no reason given"
    return f"reconciliation skipped{where}: {reason}"


def follow_update_message(
    customer_name: str,
    customer_key: str,
    updates: Sequence[FollowUpdate],
    *,
    digest: bool = False,
) -> CardMessage:
    """The one message of a delivery: a header with the customer, a line per event (icons by
    feature), and the button that opens the full card."""
    name = escape_text(customer_name, 150, markers=False)
    title = f"{customer_name[:120]}: {'daily digest' if digest else 'update'}"
    shown = list(updates[:LINES_SHOWN])
    lines = [f"{_ICONS.get(u.kind, '•')} {update_line(u)}" for u in shown]
    more = len(updates) - len(shown)
    if more > 0:
        lines.append(f"and {plural(more, 'more change')}")
    blocks: list[Block] = [
        header_block(title),
        section_block("\n".join(lines)),
        ActionsBlock(elements=[open_card_button(customer_key)]),
        context_block(
            f"You're following {name} here. `/license following` lists what is followed."
        ),
    ]
    first = update_line(shown[0]) if shown else "no changes"
    others = f" (and {len(updates) - 1} more)" if len(updates) > 1 else ""
    return CardMessage(text=f"{name}: {first}{others}", blocks=blocks)


def open_card_button(customer_key: str) -> ButtonElement:
    # The update is shared and small; the card is the requester's own, with what only they may
    # see, so it opens for whoever clicks and for no one else.
    return ButtonElement(
        text=PlainTextObject(text="Open the full card"),
        action_id=ids.FOLLOW_OPEN_CARD_ACTION,
        value=customer_key,
    )
