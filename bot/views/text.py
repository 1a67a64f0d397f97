"""Slack messages as terminal text, for `python -m bot shell`.

Takes the message dict Bolt would send (`text` plus `blocks` as dicts) so the shell shows
exactly what Slack would get. Works on any valid block dicts: block types it does not know are
skipped, not fatal, because a card may gain a block type before this renderer learns it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

DIVIDER = "─" * 40
CONTEXT_PREFIX = "› "
BOLD = "\x1b[1m"
DIM = "\x1b[2m"
RESET = "\x1b[0m"

# `<...>` is Slack's one piece of markup with structure: links, mentions, channels, dates.
_ANGLE_MARKUP = re.compile(r"<([^<>]*)>")
# *bold* only when the asterisks hug a word, so "• * footnote" or "5 * 3" stay as they are.
_BOLD_SPAN = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")


def _unescape(text: str) -> str:
    # `&amp;` last, so "&amp;lt;" becomes the literal "&lt;" it stood for.
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _render_angle_markup(inner: str) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):  # user mention <@U123> or <@U123|name>
        return "@" + (label or target[1:])
    if target.startswith("#"):  # channel <#C123|general>
        return "#" + (label or target[1:])
    if target.startswith("!"):  # <!channel>, <!subteam^S1|@sales>, <!date^…|fallback>
        if label:
            return label
        return "@" + target[1:].split("^", 1)[0]
    url = _unescape(target)
    if not label:
        return url
    shown = _unescape(label)
    if url.startswith("mailto:") and url.removeprefix("mailto:") == shown:
        return shown
    return f"{shown} ({url})"


def mrkdwn_to_text(text: str, *, color: bool = False) -> str:
    """Slack mrkdwn as readable plain text: `<url|label>` -> `label (url)`, entities decoded."""
    pieces: list[str] = []
    position = 0
    for match in _ANGLE_MARKUP.finditer(text):
        pieces.append(_format_plain(text[position : match.start()], color=color))
        pieces.append(_render_angle_markup(match.group(1)))
        position = match.end()
    pieces.append(_format_plain(text[position:], color=color))
    return "".join(pieces)


def _format_plain(text: str, *, color: bool) -> str:
    if color:
        text = _BOLD_SPAN.sub(lambda match: f"{BOLD}{match.group(1)}{RESET}", text)
    return _unescape(text)


def _text_of(text_object: Any, *, color: bool) -> str:
    if isinstance(text_object, str):
        return text_object
    if not isinstance(text_object, Mapping):
        return ""
    raw = str(text_object.get("text", ""))
    if text_object.get("type") == "mrkdwn":
        return mrkdwn_to_text(raw, color=color)
    return raw


def _dim(text: str, *, color: bool) -> str:
    return f"{DIM}{text}{RESET}" if color else text


def _render_field(field: Any, *, color: bool) -> str:
    """`*Seats*\\n50 seats` -> `Seats: 50 seats`: a label line reads better inline."""
    raw = field.get("text", "") if isinstance(field, Mapping) else ""
    lines = str(raw).split("\n")
    is_mrkdwn = isinstance(field, Mapping) and field.get("type") == "mrkdwn"
    label = lines[0]
    if is_mrkdwn and len(lines) > 1 and re.fullmatch(r"\*[^*\n]+\*", label):
        rest = [mrkdwn_to_text(line, color=color) for line in lines[1:]]
        return f"{mrkdwn_to_text(label[1:-1], color=color)}: {', '.join(rest)}"
    return " ".join(_text_of(field, color=color).split("\n"))


def _render_element(element: Any, *, color: bool) -> str:
    if not isinstance(element, Mapping):
        return ""
    kind = element.get("type")
    if kind == "button":
        label = _text_of(element.get("text"), color=False)
        target = element.get("url") or f"action:{element.get('action_id', '?')}"
        return f"[{label}] {target}"
    if kind in {"mrkdwn", "plain_text"}:
        return _text_of(element, color=color)
    if kind == "image":
        return f"[image: {element.get('alt_text', '')}]"
    text = element.get("text") or element.get("placeholder")
    return f"[{_text_of(text, color=False) or kind}]" if kind else ""


def _header(block: Mapping[str, Any], color: bool) -> list[str]:
    title = _text_of(block.get("text"), color=False)
    shown = f"{BOLD}{title}{RESET}" if color else title
    return [shown, "=" * max(len(title), 3)]


def _section(block: Mapping[str, Any], color: bool) -> list[str]:
    lines: list[str] = []
    if block.get("text"):
        lines.extend(_text_of(block["text"], color=color).split("\n"))
    for field in block.get("fields") or []:
        lines.append("  " + _render_field(field, color=color))
    accessory = block.get("accessory")
    if accessory:
        rendered = _render_element(accessory, color=color)
        if rendered:
            lines.append("  " + rendered)
    return lines


def _context(block: Mapping[str, Any], color: bool) -> list[str]:
    parts = [_render_element(element, color=False) for element in block.get("elements") or []]
    text = " · ".join(part for part in parts if part)
    return [_dim(CONTEXT_PREFIX + text, color=color)] if text else []


def _actions(block: Mapping[str, Any], color: bool) -> list[str]:
    rendered = (_render_element(element, color=color) for element in block.get("elements") or [])
    return [line for line in rendered if line]


def _divider(block: Mapping[str, Any], color: bool) -> list[str]:
    return [DIVIDER]


def _image(block: Mapping[str, Any], color: bool) -> list[str]:
    return [f"[image: {block.get('alt_text', '')}]"]


def _rich_text(block: Mapping[str, Any], color: bool) -> list[str]:
    # Only the words: rich text nests sections and lists of styled runs.
    words: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, Mapping):
            if isinstance(node.get("text"), str):
                words.append(node["text"])
            elif node.get("type") == "link":
                words.append(str(node.get("url", "")))
            for child in node.get("elements") or []:
                collect(child)

    collect(block)
    return "".join(words).split("\n") if words else []


_RENDERERS: dict[str, Callable[[Mapping[str, Any], bool], list[str]]] = {
    "header": _header,
    "section": _section,
    "context": _context,
    "actions": _actions,
    "divider": _divider,
    "image": _image,
    "rich_text": _rich_text,
}


def render_message(message: Mapping[str, Any], *, color: bool = False) -> str:
    """A Slack message dict as terminal text; the `text` fallback only when there are no blocks."""
    blocks = message.get("blocks") or []
    if not blocks:
        return mrkdwn_to_text(str(message.get("text", "")), color=color)
    lines: list[str] = []
    for block in blocks:
        if not isinstance(block, Mapping):
            continue
        renderer = _RENDERERS.get(str(block.get("type")))
        if renderer is None:
            continue
        lines.extend(renderer(block, color))
    return "\n".join(lines)
