"""Company names folded for comparison: the search key and the customer rule's folded name.

`company_search_key` is what `customer.search_key` holds and what a name query is matched on;
`company_name` adds the folded name with its legal form kept (the customer rule,
docs/ARCHITECTURE.md: Which licenses are one customer, rule 3a); `search_words` picks the words
of a key that join the name vocabulary. Pure functions of the text, with no database: the
importer (bot.store.importing), the customer upkeep (bot.store.customers) and migrations fold
names with them too.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

# Legal-form words dropped from the end of company names, so "Acme, Inc." and "ACME GmbH"
# meet at "acme" while "AB Volvo" keeps its "ab".
LEGAL_SUFFIXES = frozenset(
    (
        "inc incorporated llc llp lp ltd limited corp corporation co company plc gmbh mbh ag"
        " kg kgaa ug sa sas sarl sl srl spa bv nv oy oyj ab as asa aps pty pte kk gk sdn bhd pvt"
    ).split()
)

# Leaves room for "name:" in Customer.key (String(300)) when a customer is keyed by name.
MAX_SEARCH_KEY_LENGTH = 250

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
# Apostrophes vanish rather than split: "McDonald's" meets "mcdonalds".
_APOSTROPHES = re.compile(r"['’`´]")
# Letters that carry no combining accent in Unicode and so survive NFKD.
_LETTER_FOLDS = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)


def company_search_key(name: str) -> str:
    """Casefolded, accents, punctuation and trailing legal forms removed; words single-spaced.

    Runs of single letters are joined ("I.B.M." -> "ibm", "S.A." -> "sa"). Legal forms are
    dropped only at the end of the name, where they are legal forms ("Société Générale S.A."
    -> "societe generale", "A B Testing Co." -> "ab testing", "AB Volvo" -> "ab volvo"). A name
    made only of legal-form words ("Company Ltd") is kept whole rather than becoming empty.
    The result is idempotent, so a user typing a key finds it.
    """
    merged = _folded_words(name)
    kept = list(merged)
    while kept and kept[-1] in LEGAL_SUFFIXES:
        kept.pop()
    return " ".join(kept or merged)


# The customer rule's legal-form spellings (docs/ARCHITECTURE.md, rule 3a): a trailing legal
# form is kept in a folded name, spelt one way, so `Corp` = `Corp.` = `Corporation` and
# `Inc` = `Incorporated`, while `Acme Corp` and `ACME GmbH` stay apart. Forms not listed here
# (LLC, GmbH, AG, S.A., ...) are already spelt one way once case and punctuation are folded.
LEGAL_FORM_SPELLINGS = {
    "corporation": "corp",
    "incorporated": "inc",
    "limited": "ltd",
    "company": "co",
}


@dataclass(frozen=True)
class CompanyName:
    """A company name as the customer rule compares it."""

    folded: str  # case, accents, punctuation and spacing folded; legal form canonical, kept
    search_key: str  # company_search_key: the folded name without its legal form

    @property
    def has_legal_form(self) -> bool:
        return self.folded != self.search_key


# Exports repeat a customer's name license after license: a bounded cache of folded names
# saves most of the folding (about a third of a licenses import's Python time) in little memory.
COMPANY_NAME_CACHE_SIZE = 32768


@functools.lru_cache(maxsize=COMPANY_NAME_CACHE_SIZE)
def company_name(name: str) -> CompanyName:
    """The folded name and the search key of `name`, from one pass over it."""
    merged = _folded_words(name)
    kept = list(merged)
    while kept and kept[-1] in LEGAL_SUFFIXES:
        kept.pop()
    search_key = " ".join(kept or merged)
    if not kept or len(kept) == len(merged):
        folded = " ".join(merged)
    else:
        forms = [LEGAL_FORM_SPELLINGS.get(word, word) for word in merged[len(kept) :]]
        folded = " ".join([*kept, *forms])
    # A name made only of punctuation folds to nothing; keep it apart from other such names.
    unfoldable = name.strip().casefold()
    return CompanyName(folded or unfoldable, search_key or unfoldable)


def _folded_words(name: str) -> list[str]:
    if name.isascii():
        # What the Unicode steps below make of ASCII (most names): NFKD leaves it as it is,
        # casefold is lower, and there are no accents or other letters to fold.
        plain = _APOSTROPHES.sub("", name.lower())
    else:
        # Casefold on both sides of NFKD: each can produce characters the other then changes.
        decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", name).casefold())
        without_accents = "".join(c for c in decomposed if not unicodedata.combining(c))
        plain = _APOSTROPHES.sub("", without_accents.translate(_LETTER_FOLDS))
    words = _NON_WORD.sub(" ", plain).split()
    # Most names have no single letters to join and fit the length: skip both passes then.
    if any(len(word) == 1 for word in words):
        words = _join_single_letters(words)
    if sum(map(len, words)) + len(words) - 1 > MAX_SEARCH_KEY_LENGTH:
        words = _fit_length(words)
    return words


def _fit_length(words: list[str]) -> list[str]:
    """Whole words up to MAX_SEARCH_KEY_LENGTH; cut before suffixes go, so a key is stable."""
    fitted: list[str] = []
    length = -1
    for word in words:
        length += 1 + len(word)
        if length > MAX_SEARCH_KEY_LENGTH:
            return fitted or [word[:MAX_SEARCH_KEY_LENGTH]]
        fitted.append(word)
    return fitted


def _join_single_letters(words: list[str]) -> list[str]:
    """["a", "b", "testing"] -> ["ab", "testing"]; a trailing "x a s" -> ["x", "as"]."""
    merged: list[str] = []
    run: list[str] = []
    for position, word in enumerate([*words, ""]):
        if len(word) == 1:
            run.append(word)
            continue
        if run:
            at_end = position == len(words)
            merged.extend(_split_run(run) if at_end else ["".join(run)])
            run = []
        if word:
            merged.append(word)
    return merged


def _split_run(run: list[str]) -> list[str]:
    # At the end of a name a legal form may follow an initial: "Company X A/S" is "x" + "as".
    for start in range(len(run) - 1):
        tail = "".join(run[start:])
        if tail in LEGAL_SUFFIXES:
            head = "".join(run[:start])
            return [head, tail] if head else [tail]
    return ["".join(run)]


# The name vocabulary (`search_word`, migration 0006) holds the words of search keys with at
# least this many characters and no digit: "2500" or "7" would add a word per customer.
MIN_VOCABULARY_WORD_LENGTH = 3
_DIGIT = re.compile(r"[0-9]")


def search_words(search_key: str) -> set[str]:
    """The words of a search key that belong in the name vocabulary."""
    return {
        word
        for word in search_key.split()
        if len(word) >= MIN_VOCABULARY_WORD_LENGTH and not _DIGIT.search(word)
    }
