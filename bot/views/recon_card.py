"""The seat reconciliation card (a customer's QSRs, newest first) and its link unfurl.

Pure Block Kit builders on `bot.views.blocks`.
"""

from __future__ import annotations

from slack_sdk.models.blocks import (
    Block,
    DividerBlock,
)

from bot.freshness import Freshness
from bot.links import Links
from bot.records import (
    CustomerReconciliations,
    ReconciliationRecord,
    ReconciliationStatus,
)
from bot.views.blocks import (
    NAME_MAX,
    SHORT_CODE_MAX,
    CardMessage,
    as_utc,
    capitalised,
    context_block,
    escape_text,
    fallback_text,
    format_date,
    format_money,
    header_block,
    link,
    plural,
    section_block,
    sentence,
    usable_id,
)
from bot.views.freshness import freshness_footer, stale_blocks, stale_fallback

RECONCILIATIONS_SHOWN = 12
_RECON_STATUS_WORDS = {
    ReconciliationStatus.PENDING.value: "⏳ Pending",
    ReconciliationStatus.PROCESSED.value: "✅ Processed",
    ReconciliationStatus.SKIPPED.value: "⏭️ Skipped",
    ReconciliationStatus.FAILED.value: "❌ Failed",
}


def recon_status_words(status: str) -> str:
    key = (status or "").strip().lower()
    # A status this version does not know, in words: `on_hold` reads "on hold".
    unknown = (status or "unknown").replace("_", " ")
    return _RECON_STATUS_WORDS.get(key) or escape_text(unknown, SHORT_CODE_MAX)


def _reconciliation_text(record: ReconciliationRecord, links: Links) -> str:
    label = record.subscription_name or "Subscription"
    subscription_id = usable_id(record.zuora_subscription_id)
    if subscription_id:
        title = link(links.zuora_subscription(subscription_id), label, SHORT_CODE_MAX)
    else:
        title = escape_text(label, SHORT_CODE_MAX)
    lines = [f"*{title}* · {recon_status_words(record.status)}"]

    when = [f"reconcile on {format_date(record.reconcile_on)}"]
    if record.reconcile_done_at is not None:
        when.append(f"finished {format_date(as_utc(record.reconcile_done_at).date())}")
    lines.append(capitalised(" · ".join(when)))

    outcome = []
    if record.user_count is not None:
        outcome.append(f"{plural(record.user_count, 'user')} after reconciliation")
    if record.invoiced_amount_minor is not None:
        outcome.append(f"invoiced {format_money(record.invoiced_amount_minor, record.currency)}")
    if outcome:
        lines.append(capitalised(" · ".join(outcome)))

    skip_reason = sentence(record.skip_reason)
    if skip_reason:
        lines.append(f"Skipped because: {skip_reason}")
    error = sentence(record.error_message)
    if error:
        lines.append(f"Error: {error}")
    lines.append(link(links.reconciliation(record.id), "Open in CustomersDot"))
    return "\n".join(lines)


def build_recon_card(
    data: CustomerReconciliations, links: Links, *, freshness: Freshness
) -> CardMessage:
    """A customer's seat reconciliations (QSR), newest first; `freshness`: the age of the
    reconciliations (stale: said under the header)."""
    name = escape_text(data.customer.name, NAME_MAX)
    records = data.reconciliations
    blocks: list[Block] = [header_block(f"Seat reconciliations: {data.customer.name}")]
    blocks += stale_blocks(freshness)
    if not records:
        # "Globex Telecom Inc." ends its own sentence.
        ending = "" if name.endswith(".") else "."
        blocks.append(section_block(f"No seat reconciliations for {name}{ending}"))
        blocks.append(freshness_footer(freshness))
        fallback = stale_fallback(freshness, f"No seat reconciliations for {name}")
        return CardMessage(text=fallback_text(fallback), blocks=blocks)

    blocks.append(context_block(plural(len(records), "reconciliation") + ", newest first"))
    for index, record in enumerate(records[:RECONCILIATIONS_SHOWN]):
        if index:
            blocks.append(DividerBlock())
        blocks.append(section_block(_reconciliation_text(record, links)))
    hidden = len(records) - RECONCILIATIONS_SHOWN
    if hidden > 0:
        where = link(links.customersdot_url, "CustomersDot")
        blocks.append(context_block(f"…and {plural(hidden, 'older reconciliation')} in {where}"))
    blocks.append(freshness_footer(freshness))

    latest = records[0]
    fallback = (
        f"{name}: {plural(len(records), 'seat reconciliation')}, latest "
        f"{recon_status_words(latest.status)}"
    )
    return CardMessage(text=fallback_text(stale_fallback(freshness, fallback)), blocks=blocks)


def build_recon_unfurl(
    record: ReconciliationRecord, links: Links, *, freshness: Freshness
) -> CardMessage:
    """The compact card under a posted reconciliation link: that one reconciliation."""
    name = escape_text(record.customer_name, NAME_MAX)
    text = f"*{name}* · seat reconciliation\n{_reconciliation_text(record, links)}"
    fallback = f"{name}: seat reconciliation, {recon_status_words(record.status)}"
    blocks = [*stale_blocks(freshness), section_block(text), freshness_footer(freshness)]
    return CardMessage(text=fallback_text(stale_fallback(freshness, fallback)), blocks=blocks)
