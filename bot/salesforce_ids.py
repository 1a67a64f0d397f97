"""Salesforce record ids, compared in their 18-character form (issue 12: the customer rule)."""

from __future__ import annotations

_SALESFORCE_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def salesforce_id_18(raw: str) -> str:
    """A Salesforce id in its 18-character, case-insensitive-safe form.

    A 15-character id gets Salesforce's checksum suffix: for each five-character chunk, a bit
    per upper-case letter, read as an index into A-Z0-5. Other lengths are returned as given
    (an id that is not one is still compared as written). Case is never folded: the
    15-character ids `...AbC` and `...abc` are different accounts."""
    if len(raw) != 15 or not raw.isascii() or not raw.isalnum():
        return raw
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << offset for offset, c in enumerate(raw[start : start + 5]) if c.isupper())
        suffix += _SALESFORCE_CHECKSUM_ALPHABET[bits]
    return raw + suffix
