"""Answers for a search that names no one customer: the pick list when several match,
"Also matching" beside a card, and not found with suggestions.

Pure Block Kit builders on `bot.views.blocks`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    SectionBlock,
)

from bot import ids
from bot.records import (
    CustomerChoice,
    CustomerStanding,
)
from bot.views.blocks import (
    BUTTON_VALUE_MAX,
    CUSTOMER_STANDING_WORDS,
    NAME_MAX,
    PLAN_MAX,
    SHORT_CODE_MAX,
    CardMessage,
    button_text,
    context_block,
    escape_text,
    fallback_text,
    license_counts_words,
    mrkdwn,
    plan_label,
    plural,
    quoted_query,
    read_button_json,
    seats_words,
    section_block,
)

PICK_CHOICES_SHOWN = 10
SUGGESTIONS_SHOWN = 5


def choice_counts(choice: CustomerChoice) -> str:
    """The card's own counts line for this customer (`2 licenses · 1 trial`)."""
    if choice.paid_count or choice.trial_count:
        return license_counts_words(choice.paid_count, choice.trial_count)
    return plural(choice.license_count, "license")


_MATCHED_AS_WORDS = {"account": "account", "company": "licensee", "contact": "contact"}


def _choice_line(choice: CustomerChoice) -> str:
    parts = [f"*{escape_text(choice.name, NAME_MAX)}*", choice_counts(choice)]
    if choice.standing is CustomerStanding.ACTIVE and choice.active_plan:
        active = escape_text(plan_label(choice.active_plan), PLAN_MAX)
        if choice.active_user_count is not None:
            active += f", {seats_words(choice.active_user_count)}"
        if choice.subscriptions_in_force > 1:
            active += f" (+{plural(choice.subscriptions_in_force - 1, 'more subscription')})"
        parts.append(active)
    else:
        parts.append(CUSTOMER_STANDING_WORDS[choice.standing])
    if choice.matched_as is not None:
        # Why a customer shown under another name is listed: `licensee Umbrella Corporation`.
        kind, name = choice.matched_as
        words = _MATCHED_AS_WORDS.get(kind, "also known as")
        parts.append(f"_{words} {escape_text(name, NAME_MAX)}_")
    return " · ".join(parts)


# Distinguishing details shown per kind, at most this many values each.
_DETAIL_VALUES = 2


def _choice_lines(choices: Sequence[CustomerChoice]) -> list[str]:
    """Pick-list lines, never two alike: customers with the same name are told apart by what
    differs (account name or Salesforce id, subscriptions, contact email domains)."""
    lines = [_choice_line(choice) for choice in choices]
    names = Counter(choice.name.strip().casefold() for choice in choices)
    for index, choice in enumerate(choices):
        if names[choice.name.strip().casefold()] > 1:
            details = _choice_details(choice)
            if details:
                lines[index] += " · " + " · ".join(details)
    seen: Counter[str] = Counter()
    for index, line in enumerate(lines):
        seen[line] += 1
        if seen[line] > 1 or lines.count(line) > 1:
            # Nothing on record tells them apart: their keys do.
            lines[index] = f"{line} · `{escape_text(choices[index].key, NAME_MAX)}`"
    return lines


def _choice_details(choice: CustomerChoice) -> list[str]:
    """What a person recognises of a customer, to tell same-named ones apart: its account's
    name when it differs, its Zuora account number, subscriptions and contacts' email domains
    (the plan and seats are on the line already); never an 18-character Salesforce id."""
    details: list[str] = []
    if choice.account_name and choice.account_name.strip().casefold() != (
        choice.name.strip().casefold()
    ):
        details.append(f"account {escape_text(choice.account_name, NAME_MAX)}")
    if choice.account_numbers:
        shown = ", ".join(
            escape_text(number, SHORT_CODE_MAX)
            for number in choice.account_numbers[:_DETAIL_VALUES]
        )
        details.append(f"account {shown}")
    if choice.subscription_names:
        shown = ", ".join(
            escape_text(name, SHORT_CODE_MAX) for name in choice.subscription_names[:_DETAIL_VALUES]
        )
        details.append(shown)
    if choice.email_domains:
        details.append(
            ", ".join(
                "@" + escape_text(domain, NAME_MAX)
                for domain in choice.email_domains[:_DETAIL_VALUES]
            )
        )
    return details


def build_pick_list(
    query: str,
    choices: Sequence[CustomerChoice],
    *,
    action_id: str,
    more_count: int = 0,
    has_more: bool = False,
    first_number: int = 1,
    more: tuple[str, str] | None = None,
) -> CardMessage:
    """Several customers match: one line and a "Show" button per customer.

    `has_more`: the search found more customers than it handed over; say so and how to narrow
    it (SearchResult.has_more). `more`: (action_id, value) of a "Show more" button that asks
    for the next page; `first_number` is the number of the first choice shown (page 2 of 8
    starts at 9)."""
    if first_number > 1:
        intro = f"More customers match {quoted_query(query)}, from number {first_number:,}:"
    else:
        intro = f"Several customers match {quoted_query(query)}. Pick one:"
    blocks: list[Block] = [section_block(intro)]
    usable = [choice for choice in choices if len(choice.key) <= BUTTON_VALUE_MAX]
    shown = usable[:PICK_CHOICES_SHOWN]
    for index, (choice, line) in enumerate(zip(shown, _choice_lines(shown), strict=True)):
        blocks.append(
            SectionBlock(
                block_id=f"{ids.PICK_LIST_BLOCK_PREFIX}{index}",
                text=mrkdwn(line),
                accessory=ButtonElement(
                    text=button_text("Show"),
                    action_id=action_id,
                    value=choice.key,
                ),
            )
        )
    hidden = more_count + max(len(usable) - PICK_CHOICES_SHOWN, 0)
    if hidden > 0:
        blocks.append(
            context_block(
                f"…and {plural(hidden, 'more match', 'more matches')}. Try a longer name."
            )
        )
    elif has_more:
        blocks.append(context_block(MORE_MATCHES_HINT))
        if more is not None and len(more[1]) <= BUTTON_VALUE_MAX:
            more_action_id, value = more
            button = ButtonElement(
                text=button_text("Show more"), action_id=more_action_id, value=value
            )
            blocks.append(ActionsBlock(block_id=ids.PICK_MORE_BLOCK, elements=[button]))
    return CardMessage(text=fallback_text(intro), blocks=blocks)


def more_matches_value(query: str, offset: int) -> str:
    """A "Show more" button's value: the search text and where the next page starts. Not
    trusted when it comes back: read with `read_more_matches_value`, and it only ever runs a
    search for whoever clicked, like a slash command would."""
    return json.dumps({"q": query, "o": offset}, ensure_ascii=False, separators=(",", ":"))


def read_more_matches_value(value: str) -> tuple[str, int] | None:
    """(query, offset) from a "Show more" value, or None when it is not one."""
    decoded = read_button_json(value)
    if decoded is None:
        return None
    query, offset = decoded.get("q"), decoded.get("o")
    if not isinstance(query, str) or type(offset) is not int or offset < 0:
        return None
    return query, offset


MORE_MATCHES_HINT = (
    "More customers match than are shown here. Narrow the search: add a word of the name, or "
    "search by contact email, `@domain` or subscription (`A-S…`)."
)
# Customers offered beside a card the query named exactly.
ALSO_MATCHING_SHOWN = 5


def also_matching_blocks(others: Sequence[tuple[str, str]], *, action_id: str) -> list[Block]:
    """ "Also matching: Acme Holdings, ACME GmbH", a button each (the pick list's action, so the
    pick handler shows the one chosen): the query is exactly the card's customer's name, but
    these share its words. (key, name) pairs, best first."""
    usable = [(key, name) for key, name in others if len(key) <= BUTTON_VALUE_MAX]
    shown = usable[:ALSO_MATCHING_SHOWN]
    if not shown:
        return []
    names = ", ".join(escape_text(name, NAME_MAX) for _, name in shown)
    blocks: list[Block] = [context_block(f"Also matching: {names}")]
    for index, (key, name) in enumerate(shown):
        blocks.append(
            SectionBlock(
                block_id=f"{ids.ALSO_MATCHING_BLOCK_PREFIX}{index}",
                text=mrkdwn(f"*{escape_text(name, NAME_MAX)}*"),
                accessory=ButtonElement(text=button_text("Show"), action_id=action_id, value=key),
            )
        )
    return blocks


def build_not_found(query: str, suggestions: Sequence[str], *, command: str) -> CardMessage:
    """Nothing matches: say so, suggest the closest names and what else can be searched."""
    first = f"No customer matches {quoted_query(query)}."
    lines = [first]
    shown = [escape_text(name, NAME_MAX) for name in suggestions[:SUGGESTIONS_SHOWN]]
    if shown:
        lines.append(f"Did you mean: {', '.join(shown)}?")
    safe_command = escape_text(command, SHORT_CODE_MAX)
    hint = (
        "You can search by company name, contact email, `@domain`, subscription "
        f"(`A-S00012345`), license id or hostname, e.g. `{safe_command} Acme`."
    )
    blocks: list[Block] = [section_block("\n".join(lines)), context_block(hint)]
    return CardMessage(text=fallback_text(first), blocks=blocks)
