"""bot.views.blocks.block_dict: slack_sdk's to_dict, without its reflection on every object;
escape_text's shortcut for text with nothing to escape.

Every card a test builds is compared with slack_sdk's own to_dict in tests/helpers/cards.py's
check_message; here, the cases those cards do not reach: a limit broken, objects that serialise
themselves, the lists slack_sdk keeps even when empty."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RichTextBlock,
    RichTextSectionElement,
    SectionBlock,
    StaticSelectElement,
)

from bot.views.blocks import (
    NAME_MAX,
    CardMessage,
    _escape,
    _escaped_mailto_link,
    _serialisation_plan,
    block_dict,
    escape_text,
    mailto_link,
)


def every_kind_of_block() -> list[object]:
    option = Option(value="a", text="A")
    return [
        HeaderBlock(block_id="header", text=PlainTextObject(text="Initech", emoji=True)),
        SectionBlock(
            text=MarkdownTextObject(text="*Active* license", verbatim=True),
            fields=[MarkdownTextObject(text="one"), PlainTextObject(text="two")],
            accessory=ButtonElement(text="Open", url="https://example.test", action_id="open"),
        ),
        ContextBlock(elements=[MarkdownTextObject(text="as of today")]),
        DividerBlock(),
        ActionsBlock(
            block_id="actions",
            elements=[
                ButtonElement(
                    text="Share",
                    action_id="share",
                    value="{}",
                    style="primary",
                    confirm=ConfirmObject(title="Sure?", text="Post it"),
                ),
                StaticSelectElement(
                    action_id="pick", options=[option], initial_option=option, placeholder="Pick"
                ),
            ],
        ),
        InputBlock(label="Note", element=PlainTextInputElement(action_id="note", max_length=500)),
        RichTextBlock(elements=[RichTextSectionElement(elements=[])]),
    ]


@pytest.mark.parametrize("block", every_kind_of_block(), ids=lambda block: type(block).__name__)
def test_block_dict_is_slack_sdks_to_dict(block):
    assert block_dict(block) == block.to_dict()
    assert block_dict(block) == block.to_dict()  # and again, from the class's cached plan


def test_a_card_message_sends_slack_sdks_dicts():
    blocks = every_kind_of_block()
    message = CardMessage(text="Initech", blocks=blocks)  # type: ignore[arg-type]
    assert message.to_dict() == {"text": "Initech", "blocks": [b.to_dict() for b in blocks]}


def test_a_broken_limit_is_refused_as_slack_sdk_refuses_it():
    too_long = HeaderBlock(text=PlainTextObject(text="x" * 151))
    with pytest.raises(SlackObjectFormationError) as by_slack_sdk:
        too_long.to_dict()
    with pytest.raises(SlackObjectFormationError) as by_block_dict:
        block_dict(too_long)
    assert str(by_block_dict.value) == str(by_slack_sdk.value)


def test_a_nested_object_is_validated_too():
    button = ButtonElement(text="x" * 76, action_id="long")
    with pytest.raises(SlackObjectFormationError):
        block_dict(ActionsBlock(elements=[button]))


# escape_text returns plain text as it is: the same text every escaping step would give back.
SPECIAL = "&<>*_~`@|\n\t\r\x00\x7f \u00a0\u200b\u200d\u202e\ufeff"


@pytest.mark.parametrize(
    "text",
    [
        "Initech",
        "Initech Corp. (EMEA), 2025-01-02",
        "A-S00090001",
        "gitlab.initech.example",
        "株式会社ヤマト技研",
        "x" * NAME_MAX,
        "x" * (NAME_MAX + 1),
        " Initech",
        "Initech ",
        "Ini  tech",
        "@channel",
        "a@here b",
        *(f"a{character}b" for character in SPECIAL),
        *(f"{character}" for character in SPECIAL),
    ],
)
@pytest.mark.parametrize("markers", [True, False])
def test_plain_text_escapes_as_every_step_would(text, markers):
    assert escape_text(text, markers=markers) == _escape(text, NAME_MAX, markers=markers)


@given(st.text(alphabet=st.sampled_from("aZ9é字.,:;'()/#+=%$!?-" + SPECIAL), max_size=30))
@settings(max_examples=300, deadline=None)
def test_any_text_escapes_as_every_step_would(text):
    for markers in (True, False):
        assert escape_text(text, 20, markers=markers) == _escape(text, 20, markers=markers)


@pytest.mark.parametrize(
    "email",
    [
        "jane@initech.example",
        "jane.o_hara+deals@mail-1.initech.co.uk",
        "bob@here.example",  # a broadcast-like domain: still broken in the label
        "a@channel",
        "x" * 250 + "@b.co",
        "x" * 251 + "@b.co",  # too long: cut
        "jane doe@initech.example",
        "<@U123>@x.example",
        "a|b@x.example",
        "a&b@x.example",
        "*bold*@x.example",
        "jane@@x",
        "",
    ],
)
def test_a_plain_address_links_as_the_escaping_path_links_it(email: str) -> None:
    assert mailto_link(email) == _escaped_mailto_link(email)


@given(st.text(alphabet=st.sampled_from("aZ09._+-@|<>&* \u202e~`!"), max_size=40))
@settings(max_examples=300)
def test_any_address_links_as_the_escaping_path_links_it(email: str) -> None:
    assert mailto_link(email) == _escaped_mailto_link(email)


@pytest.mark.parametrize("text_class", [MarkdownTextObject, PlainTextObject])
def test_text_objects_have_no_validators_to_skip(text_class):
    # block_dict's fast path for text objects runs none: a slack_sdk that adds one fails here.
    validators, _attributes = _serialisation_plan(text_class(text="a"))
    assert validators == ()


@given(
    text=st.one_of(st.text(max_size=5), st.integers()),
    flag=st.sampled_from([None, True, False, "yes", 1]),
)
def test_a_text_object_is_slack_sdks_to_dict(text, flag):
    for element in (
        MarkdownTextObject(text=text, verbatim=flag),
        PlainTextObject(text=text, emoji=flag),
    ):
        assert block_dict(element) == element.to_dict()
