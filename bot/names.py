"""Company names folded for comparison: the search key and the customer rule's folded name.

`company_search_key` is what a name's `search_key` holds (`customer_name`, the index of every
name a customer is known by) and what a name query is matched on; `company_name` adds the
folded name with its legal form kept (the customer rule, docs/customer-rule.md: rule 3 and
Legal forms); `person_search_key` folds a contact's name; `search_words` picks the
words of a key that join the name vocabulary; `cjk_bigrams` the pairs of CJK characters a CJK
query is found by. Pure functions of the text, with no database: the importer
(bot.store.importing) and the store's upkeep (bot.store.upkeep) fold names with them.

NAME_FOLDING_VERSION names this folding: every stored fold was made by some version of these
functions, and `python -m bot db upgrade` refolds the store when the version it was folded with
is not this one. Bump it with any change that folds some name differently.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

# Bump with any change below that folds some name differently (see the module's docstring).
NAME_FOLDING_VERSION = "3"

# Legal-form words dropped from the end of company names, so "Acme, Inc." and "ACME GmbH"
# meet at "acme" while "AB Volvo" keeps its "ab".
LEGAL_SUFFIXES = frozenset(
    (
        "inc incorporated llc llp lp ltd limited corp corporation co company plc gmbh mbh ag"
        " kg kgaa ug sa sas sarl sl srl spa bv nv oy oyj ab as asa aps pty pte kk gk yk sdn bhd"
        " pvt"
    ).split()
)

# Japanese legal forms, written before the name (株式会社ヤマト技研) as often as after it, and
# without a space: folded to the romanised form ("kk", as "K.K." folds), which a folded name
# keeps at its end like any legal form. (株) and (有) are their abbreviations; NFKD has already
# turned ㈱ into (株), and the parentheses into a word break.
JAPANESE_LEGAL_FORMS = {
    "株式会社": "kk",
    "有限会社": "yk",
    "合同会社": "gk",
    "株": "kk",
    "有": "yk",
}
_JAPANESE_LEGAL_AFFIXES = tuple(form for form in JAPANESE_LEGAL_FORMS if len(form) > 1)

# Leaves room for "name:" in Customer.key (String(300)) when a customer is keyed by name.
MAX_SEARCH_KEY_LENGTH = 250

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
# Apostrophes vanish rather than split: "McDonald's" meets "mcdonalds".
_APOSTROPHES = re.compile(r"['’`´]")
# Kana's combining voiced and semi-voiced sound marks: part of the letter, not an accent.
_KANA_MARKS = frozenset("\u3099\u309a")
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


# The customer rule's legal-form spellings (docs/customer-rule.md: Legal forms): a trailing legal
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
        # Accents go; kana's voicing marks stay (デ is not テ), and what they and Hangul's jamo
        # decomposed from is composed again (NFC), so a CJK name keeps its characters.
        # Format characters (zero-width spaces, joiners, bidi controls) are ignored: they hide
        # in a name ("Ini\u200btech" is Initech), and split no word.
        without_accents = unicodedata.normalize(
            "NFC",
            "".join(
                c
                for c in decomposed
                if (not unicodedata.combining(c) or c in _KANA_MARKS)
                and unicodedata.category(c) != "Cf"
            ),
        )
        plain = _APOSTROPHES.sub("", without_accents.translate(_LETTER_FOLDS))
    words = _NON_WORD.sub(" ", plain).split()
    if not name.isascii():
        words = _japanese_legal_form_last(words)
    # Most names have no single letters to join and fit the length: skip both passes then.
    if any(len(word) == 1 for word in words):
        words = _join_single_letters(words)
    if sum(map(len, words)) + len(words) - 1 > MAX_SEARCH_KEY_LENGTH:
        words = _fit_length(words)
    return words


def _japanese_legal_form_last(words: list[str]) -> list[str]:
    """A Japanese legal form split off the name it is written against and moved to the end,
    romanised: ["株式会社ヤマト技研"] and ["株", "ヤマト技研"] -> ["ヤマト技研", "kk"]."""
    name_words: list[str] = []
    forms: list[str] = []
    for word in words:
        if word in JAPANESE_LEGAL_FORMS:
            forms.append(JAPANESE_LEGAL_FORMS[word])
            continue
        for affix in _JAPANESE_LEGAL_AFFIXES:
            if word.startswith(affix) and len(word) > len(affix):
                forms.append(JAPANESE_LEGAL_FORMS[affix])
                word = word[len(affix) :]
            if word.endswith(affix) and len(word) > len(affix):
                forms.append(JAPANESE_LEGAL_FORMS[affix])
                word = word[: -len(affix)]
        name_words.append(word)
    if not forms or not name_words:
        return words
    return [*name_words, *forms]


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


def person_search_key(name: str) -> str:
    """A contact's name as it is searched: case, accents and punctuation folded like a company
    name's, no word dropped (a surname is never a legal form)."""
    return " ".join(_folded_words(name))


def compact_key(folded: str) -> str:
    """A folded name with its spaces removed: `Pied Piper`, `PiedPiper` and `piedpiper` meet
    (the customer rule's spellings of one prospect, docs/customer-rule.md)."""
    return folded.replace(" ", "")


# Labels that sit between a company's own label and the top-level domain (`co.jp`, `com.au`).
_SECOND_LEVEL_LABELS = frozenset("ac co com edu go gob gov ltd ne net nom or org plc sch".split())


def domain_label_key(domain: str) -> str:
    """The company's own label of an email domain, folded and compacted as a name is:
    `yamato-giken.co.jp` -> `yamatogiken`, `mail.initech.com` -> `initech`."""
    labels = [label for label in domain.lower().strip(".").split(".") if label]
    if len(labels) > 1:
        labels.pop()  # the top-level domain
    if len(labels) > 1 and labels[-1] in _SECOND_LEVEL_LABELS:
        labels.pop()
    return compact_key(" ".join(_folded_words(labels[-1]))) if labels else ""


# The scripts written without spaces between words, where a query is a substring of a name,
# not its word: Han ideographs, kana, Hangul (and their compatibility and half-width forms).
_CJK = re.compile(
    "[\u1100-\u11ff\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3031-\u3035\u3038-\u303c"
    "\u3040-\u30ff\u3130-\u318f\u31a0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
    "\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]"
)


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def cjk_bigrams(search_key: str) -> set[str]:
    """The pairs of adjacent CJK characters in a folded name: what `name_bigram` indexes, so a
    CJK query of two characters or more is found as a substring (日立 in 日立製作所) without a
    table scan."""
    if not has_cjk(search_key):
        return set()
    return {
        search_key[i : i + 2]
        for i in range(len(search_key) - 1)
        if _CJK.match(search_key[i]) and _CJK.match(search_key[i + 1])
    }


# What every folded column of a license row holds is cut to its column's width.
FOLDED_COLUMN_WIDTH = 300


@dataclass(frozen=True)
class LicenseNames:
    """A license row's names as the store keeps them folded (License's columns of that name):
    computed by the importer for each row, and again for every row by the store's upkeep when
    NAME_FOLDING_VERSION changes, with this one function."""

    company_folded: str | None
    company_search_key: str | None
    email_domain_label: str | None
    contact_search_key: str | None


def license_names(
    company: str | None, contact_name: str | None, email_domain: str | None
) -> LicenseNames:
    width = FOLDED_COLUMN_WIDTH
    name = company_name(company) if company and company.strip() else None
    contact = person_search_key(contact_name) if contact_name else ""
    label = domain_label_key(email_domain) if email_domain else ""
    return LicenseNames(
        company_folded=name.folded[:width] if name else None,
        company_search_key=name.search_key[:width] if name else None,
        email_domain_label=label[:width] or None,
        contact_search_key=contact[:width] or None,
    )
