"""Query text -> what the user meant (docs/ARCHITECTURE.md: where each rule lives).

One box, many meanings: digits are a license id (also as the card prints it, `#12345`),
`jane@acme.io` an email (then its domain), `@acme.io` an email domain, `A-S00012345` a
subscription name (also without its `A-`: `S00012345`), `gitlab.acme.io` a hostname (then an
email domain), anything else a company name. Whatever finds nothing in its own way falls back
to names.

Names are matched on `customer_name.search_key` (see `company_search_key`): every name a
customer is known by (its account's, every license's company name, its contacts'). The engine's
trigram index finds a bounded set of candidates without scanning the table; they are then
ranked with one scoring function for both engines, so SQLite and PostgreSQL agree on the order.

This module holds the entry points callers use (`find_customers`, `find_customer_in_text`,
`SearchResult`) and re-exports the package's public names. The parts:

- `bot.names`: folding company names (search keys, the customer rule's folded names,
  legal forms, the words of the name vocabulary);
- `bot.search.parsing`: query text -> `ParsedQuery` / `QueryKind`;
- `bot.search.matchers`: the exact matchers (license id, email, domain, subscription, host);
- `bot.search.probes`: the per-engine probes that find candidate names (key range, SQLite
  FTS5, PostgreSQL pg_trgm, vocabulary corrections);
- `bot.search.trigrams`: pg_trgm's trigram similarity in Python;
- `bot.search.ranking`: ranking candidate names against the query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.names import (
    COMPANY_NAME_CACHE_SIZE,
    JAPANESE_LEGAL_FORMS,
    LEGAL_FORM_SPELLINGS,
    LEGAL_SUFFIXES,
    MAX_SEARCH_KEY_LENGTH,
    MIN_VOCABULARY_WORD_LENGTH,
    NAME_FOLDING_VERSION,
    CompanyName,
    LicenseNames,
    cjk_bigrams,
    compact_key,
    company_name,
    company_search_key,
    domain_label_key,
    has_cjk,
    license_names,
    person_search_key,
    search_words,
)
from bot.records import CustomerChoice
from bot.search.matchers import _exact_matchers
from bot.search.parsing import (
    _SLACK_MARKUP,
    MAX_QUERY_LENGTH,
    ParsedQuery,
    QueryKind,
    _unwrap_slack_markup,
    parse_query,
)
from bot.search.probes import (
    CANDIDATE_LIMIT,
    MAX_CORRECTABLE_WORD_LENGTH,
    MAX_CORRECTED_QUERIES,
    MAX_PROBE_WORDS,
    MAX_WORD_CORRECTIONS,
    MIN_PROBE_WORD_LENGTH,
    MIN_SUBSTRING_QUERY_LENGTH,
    MIN_TRIGRAM_QUERY_LENGTH,
    PG_SIMILARITY_THRESHOLD,
    PG_WORD_SIMILARITY_THRESHOLD,
    SQLITE_NAME_INDEX,
    SQLITE_WORD_INDEX,
    WORD_CANDIDATE_LIMIT,
    WORD_CORRECTION_SCORE,
)
from bot.search.ranking import (
    _FUZZY_TIER,
    MATCH_SCORE,
    SUGGESTION_SCORE,
    _Candidate,
    _rank_names,
)
from bot.search.trigrams import trigram_score, trigrams
from bot.store.models import CustomerName
from bot.store.queries import customer_choices

__all__ = [
    "CANDIDATE_LIMIT",
    "CHOICES_SHOWN",
    "COMPANY_NAME_CACHE_SIZE",
    "JAPANESE_LEGAL_FORMS",
    "LEGAL_FORM_SPELLINGS",
    "LEGAL_SUFFIXES",
    "MATCH_SCORE",
    "MAX_ALSO_MATCHING",
    "MAX_CORRECTABLE_WORD_LENGTH",
    "MAX_CORRECTED_QUERIES",
    "MAX_EXACT_TOKENS",
    "MAX_PHRASE_WORDS",
    "MAX_PROBE_WORDS",
    "MAX_QUERY_LENGTH",
    "MAX_SEARCH_KEY_LENGTH",
    "MAX_SUGGESTIONS",
    "MAX_WORD_CORRECTIONS",
    "MESSAGE_WORDS_SCANNED",
    "MIN_PROBE_WORD_LENGTH",
    "MIN_SUBSTRING_QUERY_LENGTH",
    "MIN_TRIGRAM_QUERY_LENGTH",
    "MIN_VOCABULARY_WORD_LENGTH",
    "NAME_FOLDING_VERSION",
    "PG_SIMILARITY_THRESHOLD",
    "PG_WORD_SIMILARITY_THRESHOLD",
    "SQLITE_NAME_INDEX",
    "SQLITE_WORD_INDEX",
    "SUGGESTION_SCORE",
    "WORD_CANDIDATE_LIMIT",
    "WORD_CORRECTION_SCORE",
    "CompanyName",
    "LicenseNames",
    "ParsedQuery",
    "QueryKind",
    "SearchResult",
    "cjk_bigrams",
    "compact_key",
    "company_name",
    "company_search_key",
    "domain_label_key",
    "find_customer_in_text",
    "find_customers",
    "has_cjk",
    "license_names",
    "parse_query",
    "person_search_key",
    "search_words",
    "trigram_score",
    "trigrams",
]

MAX_SUGGESTIONS = 3
# Customers a search returns by default: a pick list's page (bot.answers.lookups).
CHOICES_SHOWN = 8
# Other matches offered beside a card whose name the query is exactly.
MAX_ALSO_MATCHING = 5


@dataclass(frozen=True)
class SearchResult:
    query: ParsedQuery
    choices: tuple[CustomerChoice, ...] = ()  # best first; the pick list when not resolved
    resolved: CustomerChoice | None = None  # set when the query clearly means one customer
    suggestions: tuple[str, ...] = ()  # nearest names, when nothing matched
    matched_by: QueryKind | None = None  # the matcher that found `choices` (NAME on fallback)
    has_more: bool = False  # more customers matched than `choices` holds
    # The clear winner's key; set even when `load_choices=False` skipped loading `resolved`.
    resolved_key: str | None = None
    # The query is exactly the winner's folded name but these (key, name) also match its words:
    # offered beside its card ("Also matching: Acme Holdings, ACME GmbH").
    also_matching: tuple[tuple[str, str], ...] = ()

    @property
    def unsent_email(self) -> bool:
        """The query is an email address no license was sent to, yet something was found (by
        its domain, or by name): the answer must say that address received nothing."""
        return self.query.kind is QueryKind.EMAIL and self.matched_by not in (
            None,
            QueryKind.EMAIL,
        )


def find_customers(
    session: Session,
    text: str,
    *,
    today: date,
    limit: int = CHOICES_SHOWN,
    load_choices: bool = True,
) -> SearchResult:
    """The customers `text` means, best first (ARCHITECTURE.md: the search rule).

    `load_choices=False`: a clear winner comes back as `resolved_key` only, without loading
    its pick-list line (and licenses), for a caller that loads the whole card next anyway."""
    query = parse_query(text)
    if query.kind is QueryKind.EMPTY:
        return SearchResult(query)
    for matched_by, matcher in _exact_matchers(query):
        keys = matcher(session, limit + 1)
        if keys:
            return _result(
                session, query, matched_by, keys, limit, len(keys) == 1, load_choices, today
            )
    # One more than the caller shows: `has_more` must still be known.
    ranked = _rank_names(session, query.name_key, query.text, enough=limit + 1)
    matches = [candidate for candidate in ranked if candidate.is_match]
    if not matches:
        suggestions: list[str] = []
        for candidate in ranked:
            if candidate.score >= SUGGESTION_SCORE and candidate.name not in suggestions:
                suggestions.append(candidate.name)
        return SearchResult(query, suggestions=tuple(suggestions[:MAX_SUGGESTIONS]))
    exact = [candidate for candidate in matches if candidate.search_key == query.name_key]
    if matches[0].kind != "contact" and matches[0].tier < _FUZZY_TIER:
        # A company matches by the query's words: a person named exactly so does not settle
        # which customer is meant ("Bruce Wayne": the foundation, or the man's company).
        exact = [candidate for candidate in exact if candidate.kind != "contact"]
    # The query is one customer's folded name, legal form kept (`Acme Corp`): that customer,
    # whoever else shares its words (`ACME GmbH`); `Acme` names several, so they are picked from.
    folded = company_name(query.text).folded
    same_name = [candidate for candidate in exact if candidate.folded == folded]
    keys = [candidate.key for candidate in matches]
    if len(same_name) == 1:
        winner: str | None = same_name[0].key
    elif len(exact) == 1:
        winner = exact[0].key
    else:
        winner = keys[0] if len(keys) == 1 else None
    matched = {candidate.key: candidate for candidate in matches}
    if winner is not None:
        # Its card, with whatever else matches offered beside it (`/license globex`: Globex
        # Corporation, and "Also matching: Globex Labs").
        others = tuple((c.key, c.name) for c in matches if c.key != winner)
        keys = [winner, *(key for key, _ in others)]
        result = _result(
            session, query, QueryKind.NAME, keys, limit, True, load_choices, today, matched
        )
        return replace(result, also_matching=others[:MAX_ALSO_MATCHING])
    return _result(session, query, QueryKind.NAME, keys, limit, False, load_choices, today, matched)


def _why_listed(choice: CustomerChoice, matched: dict[str, _Candidate]) -> tuple[str, str] | None:
    candidate = matched.get(choice.key)
    return None if candidate is None else _matched_as(candidate)


def _matched_as(candidate: _Candidate) -> tuple[str, str] | None:
    """(kind, name) of the name a customer matched by, when it is not the name it is shown
    with: a pick-list line then says why it is listed (`licensee Umbrella Corporation`)."""
    if company_name(candidate.name).search_key == candidate.search_key:
        return None
    return candidate.kind, candidate.matched_name


def _result(
    session: Session,
    query: ParsedQuery,
    matched_by: QueryKind,
    keys: Sequence[str],
    limit: int,
    clear_winner: bool,
    load_choices: bool,
    today: date,
    matched: dict[str, _Candidate] | None = None,
) -> SearchResult:
    if clear_winner and not load_choices:
        # Every matcher reads keys from (or joined to) the customer table: the key exists.
        return SearchResult(query, matched_by=matched_by, resolved_key=keys[0])
    choices = tuple(customer_choices(session, keys[:limit], today=today))
    if matched:
        # Said only of the customers shown (not of every candidate that matched), and only
        # where it says something: most lines matched by the name they are shown with.
        choices = tuple(
            replace(choice, matched_as=why) if (why := _why_listed(choice, matched)) else choice
            for choice in choices
        )
    resolved = choices[0] if clear_winner and choices and choices[0].key == keys[0] else None
    return SearchResult(
        query,
        choices=choices,
        resolved=resolved,
        matched_by=matched_by,
        has_more=len(keys) > limit,
        resolved_key=resolved.key if resolved else None,
    )


# --- A customer named in a message (the "Post license card" shortcut) -----------------------

# A deal thread names its customer early; reading further only finds more noise.
MESSAGE_WORDS_SCANNED = 80
MAX_PHRASE_WORDS = 4
MAX_EXACT_TOKENS = 5
# Words that are never worth proposing as a customer on their own.
_MESSAGE_STOPWORDS = frozenset(
    (
        "the and for with from this that deal renewal review license licence licenses call"
        " customer account quote true up seats users plan thread meeting update about"
    ).split()
)
_TOKEN_PUNCTUATION = "\"'“”‘’()[]{},;:!?*_~`"
_MESSAGE_KINDS = (
    QueryKind.EMAIL,
    QueryKind.EMAIL_DOMAIN,
    QueryKind.SUBSCRIPTION_NAME,
    QueryKind.HOSTNAME,
)


def find_customer_in_text(session: Session, text: str, *, today: date) -> CustomerChoice | None:
    """The customer a message most likely talks about, or None.

    An email, domain, subscription or hostname in the text names one exactly; otherwise the
    longest run of words (up to four) whose normalised form is some customer's search key,
    earliest first: "Initech renewal next week" proposes Initech. A bounded number of
    indexed queries, however long the message.
    """
    cleaned = _SLACK_MARKUP.sub(_unwrap_slack_markup, text[:4000])
    words = [word.strip(_TOKEN_PUNCTUATION) for word in cleaned.split()[:MESSAGE_WORDS_SCANNED]]
    words = [word for word in words if word]
    tried = 0
    for word in dict.fromkeys(words):
        query = parse_query(word.rstrip("."))
        if query.kind not in _MESSAGE_KINDS:
            continue
        for _, matcher in _exact_matchers(query):
            keys = matcher(session, 1)
            if keys:
                return next(iter(customer_choices(session, keys, today=today)), None)
        tried += 1
        if tried >= MAX_EXACT_TOKENS:
            break
    phrases: dict[str, tuple[int, int]] = {}  # search key -> (-word count, position)
    for size in range(MAX_PHRASE_WORDS, 0, -1):
        for start in range(len(words) - size + 1):
            key = company_search_key(" ".join(words[start : start + size]))
            if len(key) < MIN_TRIGRAM_QUERY_LENGTH or key in _MESSAGE_STOPWORDS:
                continue
            phrases.setdefault(key, (-size, start))
    if not phrases:
        return None
    # A company's or account's name, not a contact's: a deal thread names people all the time.
    rows = session.execute(
        select(CustomerName.customer_key, CustomerName.search_key)
        .where(CustomerName.search_key.in_(list(phrases)), CustomerName.kind != "contact")
        .order_by(CustomerName.customer_key)
    ).all()
    if not rows:
        return None
    best_key, _ = min(rows, key=lambda row: phrases[row[1]])
    return next(iter(customer_choices(session, [best_key], today=today)), None)
