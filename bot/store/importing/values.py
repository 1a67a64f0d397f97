"""Cell parsing: one export cell's trimmed text -> the Python value stored (ids, counts,
booleans, dates, timestamps, amounts and ISO 4217 codes through bot/money.py, hostnames,
Salesforce ids, MD5s). A bad cell raises InvalidValue, whose text completes "<column> '<value>'
..."; the kinds (kinds.py) name each column's parser, and CSV and JSON lines cells go through the
same parsers, so both formats agree."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from bot import money
from bot.store.customers import salesforce_id_18
from bot.store.importing.errors import InvalidValue

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})

_WHOLE_NUMBER = re.compile(r"[+-]?\d+")
_DECIMAL_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_TIMESTAMP_START = re.compile(r"\d{4}-\d{2}-\d{2}([T ]|$)")
_CURRENCY_CODE = re.compile(r"[A-Z]{3}")
_WORD_SEPARATORS = re.compile(r"[\s\-]+")
_MAX_SHOWN_VALUE = 60


def _text(raw: str) -> str:
    return raw


def _lowercase(raw: str) -> str:
    return raw.lower()


def _uppercase(raw: str) -> str:
    return raw.upper()


def _whole_number(raw: str, *, minimum: int, maximum: int) -> int:
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise InvalidValue("is not a whole number (digits only, no separators)")
    value = int(raw)
    if value < minimum:
        raise InvalidValue(f"is below {minimum}")
    if value > maximum:
        raise InvalidValue("is too large")
    return value


def _record_id(raw: str) -> int:
    # Fast path: plain ASCII digits short enough to be in range (most cells).
    if len(raw) < 19 and raw.isascii() and raw.isdigit() and raw != "0" * len(raw):
        return int(raw)
    return _whole_number(raw, minimum=1, maximum=INT64_MAX)


def _count(raw: str) -> int:
    if len(raw) < 10 and raw.isascii() and raw.isdigit():
        return int(raw)
    return _whole_number(raw, minimum=0, maximum=INT32_MAX)


def _boolean(raw: str) -> bool:
    word = raw.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise InvalidValue("is not true or false (true/false, yes/no, 1/0)")


# Exports repeat dates and timestamps row after row (a day's licenses, plan boundaries): a
# bounded cache of parsed values skips most of the parsing and holds little memory.
PARSE_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=PARSE_CACHE_SIZE)
def _timestamp(raw: str) -> datetime:
    """ISO 8601; no zone means UTC; `Z` and Rails' trailing ` UTC` are accepted."""
    iso_text = raw[:-4] + "+00:00" if raw.endswith(" UTC") else raw
    if not _ISO_TIMESTAMP_START.match(iso_text):
        raise InvalidValue("is not a timestamp (YYYY-MM-DD HH:MM:SS, ISO 8601)")
    try:
        value = datetime.fromisoformat(iso_text)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset pushes it past year 1..9999
        raise InvalidValue("is not a timestamp (YYYY-MM-DD HH:MM:SS, ISO 8601)") from None


@functools.lru_cache(maxsize=PARSE_CACHE_SIZE)
def _date(raw: str) -> date:
    """YYYY-MM-DD; a full timestamp gives the calendar date as written (its zone is not applied).

    Exports of date columns sometimes carry a midnight time; the date a person reads in the
    file is the date meant, whatever offset follows it.
    """
    if not _ISO_TIMESTAMP_START.match(raw):
        raise InvalidValue("is not a date (YYYY-MM-DD)")
    try:
        if _ISO_DATE.fullmatch(raw):
            return date.fromisoformat(raw)
        return datetime.fromisoformat(raw.removesuffix(" UTC")).date()
    except ValueError:
        raise InvalidValue("is not a valid date (YYYY-MM-DD)") from None


def _decimal(raw: str) -> Decimal:
    if not _DECIMAL_NUMBER.fullmatch(raw):
        raise InvalidValue("is not an amount (digits with an optional '.', e.g. 4312.50)")
    try:
        return Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern already excludes these
        raise InvalidValue("is not an amount") from None


def _currency(raw: str) -> str:
    code = raw.upper()
    if not _CURRENCY_CODE.fullmatch(code):
        raise InvalidValue("is not a currency code (three letters, e.g. USD)")
    try:
        money.minor_unit_exponent(code)
    except money.UnknownCurrency:
        raise InvalidValue(
            f"is not an ISO 4217 currency with a minor unit (list of {money.ISO_4217_PUBLISHED})"
        ) from None
    return code


def _one_of(allowed: frozenset[str]) -> Callable[[str], str]:
    listed = ", ".join(sorted(allowed))

    @functools.lru_cache(maxsize=PARSE_CACHE_SIZE)
    def parse(raw: str) -> str:
        word = _WORD_SEPARATORS.sub("_", raw.strip().lower())
        if word not in allowed:
            raise InvalidValue(f"is not one of {listed}")
        return word

    return parse


def _hostname(raw: str) -> str:
    name = raw.lower().rstrip(".")
    if not name or any(c.isspace() for c in name) or "/" in name:
        raise InvalidValue("is not a hostname")
    return name


def _salesforce_id(raw: str) -> str:
    return salesforce_id_18(raw)


def _md5(raw: str) -> str:
    """A license file's MD5 as version.gitlab.com and CustomersDot write it: hyphens removed,
    lowercase."""
    return raw.replace("-", "").lower()


def _show(raw: str) -> str:
    shown = raw if len(raw) <= _MAX_SHOWN_VALUE else raw[: _MAX_SHOWN_VALUE - 1] + "…"
    return repr(shown)
