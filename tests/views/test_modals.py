"""The modal builders (validated by slack_sdk) and long customer keys in option values."""

from __future__ import annotations

from bot import ids
from bot.answers.selection import resolve_customer_key
from bot.records import CustomerChoice, CustomerStanding, LicenseOverview
from bot.store.models import Customer
from bot.views.modals import (
    OPTION_VALUE_MAX,
    POST_CARD_BLOCKS,
    ModalContext,
    ModalForm,
    build_lookup_modal,
    build_message_modal,
    build_post_card_modal,
    customer_option_text,
    decode_option_value,
    encode_option_value,
    refilled_modal,
)
from tests.helpers.sql_capture import captured_statements


def test_short_keys_travel_as_they_are_and_long_ones_fit_in_150_characters() -> None:
    assert encode_option_value("sf:0016100000INITEC") == "sf:0016100000INITEC"
    long_key = "name:" + "initech global services " * 12
    value = encode_option_value(long_key[:300])
    assert len(value) <= OPTION_VALUE_MAX
    reference = decode_option_value(value)
    assert not isinstance(reference, str) and reference.matches(long_key[:300])


def test_a_long_key_is_resolved_among_keys_sharing_its_prefix(session) -> None:
    prefix = "name:" + "a" * 200
    keys = [f"{prefix} one", f"{prefix} two", "sf:SHORT"]
    session.add_all(Customer(key=key, name=key[-3:], search_key=key[5:]) for key in keys)
    session.commit()
    for key in keys:
        assert resolve_customer_key(session, encode_option_value(key)) == key
    gone = encode_option_value(f"{prefix} three")
    assert resolve_customer_key(session, gone) == gone  # finds nothing: "customer gone"


def test_option_text_fits_75_characters_with_the_name_cut_first() -> None:
    choice = CustomerChoice(key="k", name="N" * 300, license_count=3, active_plan="premium",
                            active_user_count=120, salesforce_account_id="0016100000INITEC",
                            email_domain="initech.example", account_numbers=("A00009001",),
                            standing=CustomerStanding.ACTIVE)  # fmt: skip
    text = customer_option_text(choice)
    # What a person recognises (domain, Zuora account number), never a Salesforce id.
    assert len(text) <= 75 and text.endswith(" · initech.example · A00009001")
    assert "Premium" not in text and "120" not in text  # never the terms (issue 10)
    assert (
        customer_option_text(
            CustomerChoice(key="k", name="Initech", standing=CustomerStanding.NONE)
        )
        == "Initech"
    )


def test_every_modal_passes_slack_sdk_validation() -> None:
    context = ModalContext(channel_id="C1", thread_ts="1700000000.000100")
    choice = CustomerChoice(
        key="sf:1", name="Initech", license_count=2, standing=CustomerStanding.EXPIRED
    )
    views = [
        build_post_card_modal(context, suggested=choice, note="hello", external_id="x"),
        build_lookup_modal(selected=choice),
        build_message_modal("Nope."),
    ]
    for view in views:
        as_dict = view.to_dict()
        assert len(as_dict["title"]["text"]) <= 24
    assert ModalContext.decode(context.encode()) == context
    assert ModalContext.decode("not json") == ModalContext()
    first = build_post_card_modal(context).to_dict()["blocks"][0]
    assert first["block_id"] == ids.CUSTOMER_BLOCK and first["dispatch_action"] is True


# ---- reading a modal back, and refilling it (the shortcut handlers only call these) -----------

NO_LICENSES = LicenseOverview()


def _submitted(view: dict, values: dict) -> dict:
    """`view` as Slack sends it back: its blocks' state under state.values."""
    return {**view, "state": {"values": values}}


def test_a_post_card_form_is_read_and_junk_in_a_block_is_named() -> None:
    view = build_post_card_modal(ModalContext(channel_id="C1")).to_dict()
    customer = {ids.CUSTOMER_SELECT_ACTION: {"selected_option": {"value": "sf:1"}}}
    note = {ids.NOTE_ACTION: {"value": "  for the renewal  "}}
    form = ModalForm.read(
        _submitted(view, {ids.CUSTOMER_BLOCK: customer, ids.NOTE_BLOCK: note}),
        blocks=POST_CARD_BLOCKS,
    )
    assert (form.customer, form.license_id, form.note) == ("sf:1", None, "for the renewal")
    assert form.unreadable_block is None
    junk = {ids.LICENSE_SELECT_ACTION: {"selected_option": {"value": "²"}}}
    form = ModalForm.read(
        _submitted(view, {ids.CUSTOMER_BLOCK: customer, ids.LICENSE_BLOCK: junk}),
        blocks=POST_CARD_BLOCKS,
    )
    assert form.unreadable_block == ids.LICENSE_BLOCK


def test_a_picked_customer_refills_the_modal_it_was_picked_in() -> None:
    choice = CustomerChoice(
        key="sf:1", name="Initech", license_count=0, standing=CustomerStanding.NONE
    )
    context = ModalContext(channel_id="C1", thread_ts="1700000000.000100")
    post_card = build_post_card_modal(context).to_dict()
    typed_note = {ids.NOTE_BLOCK: {ids.NOTE_ACTION: {"value": "kept"}}}
    refilled = refilled_modal(_submitted(post_card, typed_note), choice, NO_LICENSES)
    assert refilled is not None
    assert (
        refilled.to_dict()
        == build_post_card_modal(context, suggested=choice, licenses=[], note="kept").to_dict()
    )
    lookup = build_lookup_modal().to_dict()
    refilled = refilled_modal(lookup, choice, NO_LICENSES)
    assert refilled is not None
    assert refilled.to_dict() == build_lookup_modal(selected=choice, licenses=[]).to_dict()
    assert refilled_modal(build_message_modal("Sent.").to_dict(), choice, NO_LICENSES) is None


def test_a_forged_long_key_with_a_short_prefix_is_refused_without_reading_keys(
    session, engine
) -> None:
    session.add_all(
        Customer(key=f"name:{'a' * 200} {number}", name="A", search_key="a") for number in range(3)
    )
    session.commit()
    digest = "0" * 32
    for forged in (f"~~{digest}", f"~name:~{digest}", f"~{'n' * 115}~{digest}"):
        assert isinstance(decode_option_value(forged), str)
        with captured_statements(engine) as statements:
            assert resolve_customer_key(session, forged) == forged  # "customer gone"
        assert statements == []  # no key read or hashed for it
