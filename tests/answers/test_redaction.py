"""The one redaction rule (bot/answers/redaction.py) on every path that posts a card.

For each path into a conversation (share, the message shortcut's post, the lookup modal's send,
a license unfurl, a reconciliation unfurl), an email in a contact email, a reconciliation's error
message or skip reason, or a license's notes never reaches what the stand-in received unless
`SHOW_CONTACT_EMAILS_IN_CHANNELS` is on (notes never); the requester's own answers (the ephemeral
/license and /recon replies, send-to-me) do show the contact emails and the free text whole.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot import ids
from bot.answers.redaction import EMAIL_HIDDEN, Audience, hide_emails, redaction_for
from bot.licensing import summarise_licenses
from bot.records import (
    CustomerLicenses,
    CustomerReconciliations,
    CustomerRecord,
    LicenseRecord,
    ReconciliationRecord,
    SameDomainLicense,
)
from bot.store.importing import import_file
from bot.views.modals import ModalContext
from tests.helpers.e2e_dataset import INITECH_EMAIL, write_dataset
from tests.helpers.events_harness import (
    ALLOWED,
    CHANNEL,
    CUSTOMERSDOT,
    INITECH_KEY,
    RESPONSE_URL_NAME,
    EventsBot,
    into_conversations,
    link_shared,
    make_events_bot,
    shown,
    submission,
    to_the_requester,
)
from tests.helpers.slack_requests import interaction_body, view_submission_payload

ERROR_EMAIL = "billing.contact@initech.example"
SKIP_EMAIL = "opted.out@initech.example"
NOTES_EMAIL = "internal.note@initech.example"
NOTE_WORDS = "Renewal handled by"
FREE_TEXT_EMAILS = (ERROR_EMAIL, SKIP_EMAIL)


def _with_emails_in_free_text(bot: EventsBot, directory: Path) -> None:
    """Re-import the dataset with emails in reconciliation 502's error, 503's skip reason, and
    a Notes column on every license."""
    directory.mkdir()
    paths = write_dataset(directory, datetime.now(UTC).date())
    rows = list(csv.reader(paths["reconciliations"].open(encoding="utf-8")))
    header = rows[0]
    for row in rows[1:]:
        if row[0] == "502":
            row[header.index("Error Message")] = f"Zuora rejected the amendment: {ERROR_EMAIL}."
        if row[0] == "503":
            row[header.index("Skip Reason")] = f"Customer ({SKIP_EMAIL}) opted out"
    licenses = list(csv.reader(paths["licenses"].open(encoding="utf-8")))
    licenses[0][-1] = "Notes"
    for row in licenses[1:]:
        row[-1] = f"{NOTE_WORDS} {NOTES_EMAIL}"
    for kind, rewritten in (("reconciliations", rows), ("licenses", licenses)):
        with paths[kind].open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(rewritten)
        import_file(bot.services.session_factory, kind, paths[kind])


@pytest.fixture(params=[False, True], ids=["emails-hidden", "emails-shown"])
def bot(request, settings, slack_standin, tmp_path) -> EventsBot:
    bot = make_events_bot(
        settings, slack_standin, tmp_path, show_contact_emails_in_channels=request.param
    )
    _with_emails_in_free_text(bot, tmp_path / "free-text")
    return bot


def _share(bot: EventsBot) -> None:
    url = bot.slack.response_url(RESPONSE_URL_NAME)
    bot.click(ids.LICENSE_SHARE_ACTION, INITECH_KEY, response_url=url)


def _post_card_shortcut(bot: EventsBot) -> None:
    bot.post(submission(ids.POST_CARD_MODAL)(bot, ALLOWED))


def _lookup_modal_send(bot: EventsBot) -> None:
    state = {
        ids.CONVERSATION_BLOCK: {
            ids.CONVERSATION_SELECT_ACTION: {
                "type": "conversations_select",
                "selected_conversation": CHANNEL,
            }
        }
    }
    payload = view_submission_payload(
        ids.LOOKUP_RESULT_MODAL,
        state_values=state,
        private_metadata=ModalContext(customer=INITECH_KEY).encode(),
    )
    bot.post(interaction_body(payload))


def _license_unfurl(bot: EventsBot) -> None:
    bot.event(link_shared(f"{CUSTOMERSDOT}/admin/license/9001"))


def _reconciliation_unfurl(bot: EventsBot) -> None:
    bot.event(
        link_shared(
            f"{CUSTOMERSDOT}/admin/reconciliation/502", f"{CUSTOMERSDOT}/admin/reconciliation/503"
        )
    )


# (path, the emails its card carries when emails may be shown)
CONVERSATION_PATHS: list[tuple[Callable[[EventsBot], None], tuple[str, ...]]] = [
    (_share, (INITECH_EMAIL,)),
    (_post_card_shortcut, (INITECH_EMAIL,)),
    (_lookup_modal_send, (INITECH_EMAIL,)),
    (_license_unfurl, (INITECH_EMAIL,)),
    (_reconciliation_unfurl, FREE_TEXT_EMAILS),
]


@pytest.mark.parametrize(
    ("post", "carried"), CONVERSATION_PATHS, ids=[post.__name__ for post, _ in CONVERSATION_PATHS]
)
def test_a_conversation_sees_emails_only_when_the_deployment_allows_and_notes_never(
    bot, post, carried
):
    post(bot)
    posted = into_conversations(bot)
    assert posted, "the path posted nothing into the conversation"
    text = shown(posted)
    assert "Initech" in text
    # Internal notes never reach a conversation, whatever the email setting: not the note's
    # words, nor an address inside it.
    assert NOTE_WORDS not in text and "Note:" not in text
    assert NOTES_EMAIL not in text
    every_email = (INITECH_EMAIL, *FREE_TEXT_EMAILS)
    if bot.settings.show_contact_emails_in_channels:
        assert [email for email in carried if email not in text] == []
    else:
        assert [email for email in every_email if email in text] == []
        if carried == FREE_TEXT_EMAILS:
            # The error and skip reason are still there, only their addresses replaced.
            assert "Zuora rejected the amendment" in text and "opted out" in text
            assert text.count(EMAIL_HIDDEN) == 2


def test_the_requester_sees_contact_emails_and_free_text_whole(bot):
    responses = [
        bot.command(ids.LICENSE_COMMAND, "initech"),
        bot.command(ids.RECON_COMMAND, "initech"),
    ]
    url = bot.slack.response_url(RESPONSE_URL_NAME)
    bot.click(ids.LICENSE_SEND_TO_ME_ACTION, INITECH_KEY, response_url=url)
    private = to_the_requester(bot, responses)
    assert INITECH_EMAIL in private
    assert ERROR_EMAIL in private and SKIP_EMAIL in private
    assert EMAIL_HIDDEN not in private
    # The DM of send-to-me is the requester's too: its card carries the contact email.
    [dm] = bot.calls("chat.postMessage")
    assert INITECH_EMAIL in shown(dm.params)
    # The requester's own card shows each license's internal note, under the license.
    assert f"Note: {NOTE_WORDS} {NOTES_EMAIL}" in private
    assert f"Note: {NOTE_WORDS} {NOTES_EMAIL}" in shown(dm.params)


def test_the_lookup_modal_shows_the_requester_the_license_notes(bot):
    response = bot.post(submission(ids.LOOKUP_MODAL)(bot, ALLOWED))
    private = to_the_requester(bot, [response])
    assert "Initech" in private
    assert f"Note: {NOTE_WORDS} {NOTES_EMAIL}" in private
    assert into_conversations(bot) == []


COMPANY_EMAIL = "accounts@initech.example"


def _with_an_email_for_a_company(bot: EventsBot, directory: Path) -> None:
    """Re-import the dataset with Initech's company (its licenses', so the customer's display
    name) and its reconciliations' customer name an email address."""
    directory.mkdir()
    paths = write_dataset(directory, datetime.now(UTC).date())
    for kind, ids_column, ids_to_change in (
        ("licenses", 0, {"9001", "9000", "8999"}),
        ("reconciliations", 0, {"501", "502", "503"}),
    ):
        rows = list(csv.reader(paths[kind].open(encoding="utf-8")))
        for row in rows[1:]:
            if row[ids_column] in ids_to_change:
                row[1] = COMPANY_EMAIL  # Company / Customer
        with paths[kind].open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(rows)
        import_file(bot.services.session_factory, kind, paths[kind])


@pytest.fixture(params=[False, True], ids=["emails-hidden", "emails-shown"])
def company_email_bot(request, settings, slack_standin, tmp_path) -> EventsBot:
    bot = make_events_bot(
        settings, slack_standin, tmp_path, show_contact_emails_in_channels=request.param
    )
    _with_an_email_for_a_company(bot, tmp_path / "company-email")
    return bot


@pytest.mark.parametrize(
    "post",
    [post for post, _ in CONVERSATION_PATHS],
    ids=[p.__name__ for p, _ in CONVERSATION_PATHS],
)
def test_a_customer_named_by_an_email_is_hidden_from_a_conversation(company_email_bot, post):
    bot = company_email_bot
    post(bot)
    posted = into_conversations(bot)
    assert posted, "the path posted nothing into the conversation"
    text = shown(posted)
    if bot.settings.show_contact_emails_in_channels:
        assert COMPANY_EMAIL in text
    else:
        assert COMPANY_EMAIL not in text
        assert EMAIL_HIDDEN in text


# ---- the rule itself -------------------------------------------------------------------------


def test_the_policy_is_keyed_on_the_audience():
    for setting in (False, True):
        requester = redaction_for(Audience.REQUESTER, show_contact_emails_in_channels=setting)
        assert requester.shows_contact_emails and requester.shows_internal_notes
        conversation = redaction_for(Audience.CONVERSATION, show_contact_emails_in_channels=setting)
        assert conversation.shows_contact_emails is setting
        assert conversation.shows_internal_notes is False


def test_a_conversation_gets_records_without_emails():
    hidden = redaction_for(Audience.CONVERSATION, show_contact_emails_in_channels=False)
    license = LicenseRecord(
        id=1,
        company=f"Initech ({INITECH_EMAIL})",
        plan="premium",
        trial=False,
        contact_name=INITECH_EMAIL,
        contact_email=INITECH_EMAIL,
    )
    data = CustomerLicenses(
        customer=CustomerRecord(key="k", name="Initech"),
        overview=summarise_licenses(
            [
                license,
                # Free text of an export, as every name a card heads a block with.
                replace(license, id=2, subscription=f"A-S1 {INITECH_EMAIL}"),
                replace(license, id=3, trial=True),
            ],
            date(2026, 6, 1),
        ),
        same_domain=(SameDomainLicense(4, f"Initech ({INITECH_EMAIL})", True, "initech.example"),),
    )
    assert INITECH_EMAIL not in repr(hidden.licenses(data))
    record = ReconciliationRecord(
        id=2, customer_name="Initech", status="failed", error_message=ERROR_EMAIL
    )
    assert hidden.reconciliation(record).error_message == EMAIL_HIDDEN
    named_by_emails = CustomerRecord(key="k", name=INITECH_EMAIL, account_name=INITECH_EMAIL)
    assert INITECH_EMAIL not in repr(hidden.licenses(replace(data, customer=named_by_emails)))
    reconciliations = CustomerReconciliations(
        customer=named_by_emails,
        reconciliations=(replace(record, customer_name=INITECH_EMAIL),),
    )
    assert INITECH_EMAIL not in repr(hidden.reconciliations(reconciliations))
    shown_all = redaction_for(Audience.CONVERSATION, show_contact_emails_in_channels=True)
    assert shown_all.licenses(data) == data and shown_all.reconciliation(record) == record


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail bill@initech.example now", f"mail {EMAIL_HIDDEN} now"),
        ("<mailto:a.b+c@x.co|a.b+c@x.co>", f"<mailto:{EMAIL_HIDDEN}|{EMAIL_HIDDEN}>"),
        ("ends with bill@initech.example.", f"ends with {EMAIL_HIDDEN}."),
        ("user@localhost and @mention and a@b", "user@localhost and @mention and a@b"),
        ("x@y.z@w.v", f"{EMAIL_HIDDEN}@w.v"),
        ("", ""),
    ],
)
def test_hide_emails(text, expected):
    assert hide_emails(text) == expected


def test_hide_emails_is_linear_on_hostile_text():
    # Quadratic scanning would take minutes on these; a linear one takes milliseconds.
    for hostile in ("a" * 200_000 + "@", "@a" * 100_000, "a@" * 100_000, "a." * 100_000):
        started = datetime.now(UTC)
        hide_emails(hostile)
        assert (datetime.now(UTC) - started).total_seconds() < 1
