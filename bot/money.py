"""Money: exact amounts in ISO 4217 minor units, the one home of the currency rule.

The importer turns a decimal amount into integer minor units, the cards turn minor units back
into words, and the demo writes amounts the importer will accept; all three ask this module
how many decimals a currency has. The minor units come from ISO 4217 itself, as published by
its maintenance agency and carried by the `iso4217` package (`ISO_4217_PUBLISHED` says which
list), not from a hand table: two hand tables drifted apart once (5000 PYG showed as
"50.00 PYG"). Babel follows CLDR, which differs from ISO 4217 for IQD, HUF, IDR and COP, so it
is not a source for exponents.
"""

from __future__ import annotations

import contextlib
import datetime
import re
from collections.abc import Callable
from decimal import Decimal

import iso4217

ISO_4217_PUBLISHED: datetime.date = iso4217.__published__
# Only for codes the store already holds that ISO 4217 does not list (rows imported before the
# importer checked codes): they were stored with two decimals, so that is how they are read.
LEGACY_EXPONENT = 2

_CURRENCY_CODE = re.compile(r"[A-Z]{3}")
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


class UnknownCurrency(ValueError):
    """A code that is not an ISO 4217 currency with a minor unit."""


def minor_unit_exponent(code: str) -> int:
    """How many decimals ISO 4217 gives the currency: JPY 0, USD 2, KWD 3, CLF 4.

    Raises UnknownCurrency for a code ISO 4217 does not list, and for its entries that have no
    minor unit (gold XAU, the test code XTS, "no currency" XXX …): an amount in those is not
    money this bot can show.
    """
    try:
        exponent = iso4217.Currency(code).exponent
    except ValueError:
        raise UnknownCurrency(f"'{code}' is not an ISO 4217 currency code") from None
    if exponent is None:
        raise UnknownCurrency(f"'{code}' has no minor unit in ISO 4217") from None
    return exponent


def to_minor_units(amount: Decimal, currency: str) -> int:
    """An exact decimal amount in the currency's minor units; ValueError if it does not fit.

    Never rounds: 10.005 USD is an error, not 1001 cents.
    """
    exponent = minor_unit_exponent(currency)
    sign, digits, digits_exponent = amount.as_tuple()
    assert isinstance(digits_exponent, int)  # finite: the parser admits digits only
    coefficient = int("".join(map(str, digits)) or "0")
    shift = digits_exponent + exponent
    # `10**shift` is Any to the checker (a negative power is a float); here it never is.
    value: int
    if shift >= 0:
        value = coefficient * 10**shift
    else:
        value, remainder = divmod(coefficient, 10**-shift)
        if remainder:
            raise ValueError(f"has more decimals than {currency} allows ({exponent})")
    return -value if sign else value


def decimal_text(amount_major: float | Decimal, currency: str) -> str:
    """An amount written with exactly the currency's decimals, as an import file carries it."""
    return f"{amount_major:.{minor_unit_exponent(currency)}f}"


def format_money(amount_minor: int, currency: str | None, *, escape: Callable[[str], str]) -> str:
    """Exact minor units to words: 431250 USD -> $4,312.50; 5000 CHF -> 50.00 CHF.

    `escape` makes an odd stored code (not three letters) safe for where the text goes.
    """
    code = (currency or "").strip().upper()
    well_formed = bool(_CURRENCY_CODE.fullmatch(code))
    decimals = LEGACY_EXPONENT
    if well_formed:
        with contextlib.suppress(UnknownCurrency):
            decimals = minor_unit_exponent(code)
    whole, fraction = divmod(abs(amount_minor), 10**decimals)
    number = f"{whole:,}" + (f".{fraction:0{decimals}d}" if decimals else "")
    sign = "-" if amount_minor < 0 else ""
    if code in _SYMBOLS:
        return f"{sign}{_SYMBOLS[code]}{number}"
    if not code:
        return f"{sign}{number}"
    shown_code = code if well_formed else escape(currency or "")
    return f"{sign}{number} {shown_code}"
