"""Query text -> what the user meant (ARCHITECTURE.md: the search rule).

One box, many meanings: digits are a license id (also as the card prints it, `#12345`),
`jane@acme.io` an email (then its domain), `@acme.io` an email domain, `A-S00012345` a
subscription name (also without its `A-`: `S00012345`), `gitlab.acme.io` a hostname (then an
email domain), anything else a company name. Whatever finds nothing in its own way falls back
to names.

Names are matched on `customer.search_key` (see `company_search_key`). The engine's trigram
index finds a bounded set of candidates without scanning the table; this module then ranks
them with one scoring function for both engines, so SQLite and PostgreSQL agree on the order.
"""

from __future__ import annotations

import enum
import functools
import itertools
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, and_, func, literal, or_, select, text, union
from sqlalchemy.orm import Session

from bot.records import CustomerChoice
from bot.store.models import Customer, Host, License, Reconciliation, Subscription
from bot.store.queries import customer_choices

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
# Anything longer is not a customer name; searching on it only costs time.
MAX_QUERY_LENGTH = 200
# The largest value a BigInteger license id can hold; larger digit strings cannot be an id.
MAX_LICENSE_ID = 2**63 - 1

# How many rows each index probe may hand to the ranking. Bounds the work per lookup however
# many customers share a common trigram.
CANDIDATE_LIMIT = 100
# Below this many characters (after normalising) trigrams say nothing: prefix match instead.
MIN_TRIGRAM_QUERY_LENGTH = 3
# A substring match counts as a match from this length; "ing" is in half the customer list.
MIN_SUBSTRING_QUERY_LENGTH = 4
# Trigram scores (0..1): at or above MATCH_SCORE a candidate is a match; between
# SUGGESTION_SCORE and MATCH_SCORE it is only offered as "did you mean".
MATCH_SCORE = 0.35
SUGGESTION_SCORE = 0.2
MAX_SUGGESTIONS = 3
# Other matches offered beside a card whose name the query is exactly.
MAX_ALSO_MATCHING = 5

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


# The customer rule's legal-form spellings (DESIGN.md: The store, rule 3a): a trailing legal
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
    # Casefold on both sides of NFKD: each can produce characters the other then changes.
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", name).casefold())
    without_accents = "".join(c for c in decomposed if not unicodedata.combining(c))
    plain = _APOSTROPHES.sub("", without_accents.translate(_LETTER_FOLDS))
    return _fit_length(_join_single_letters(_NON_WORD.sub(" ", plain).split()))


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


# --- Parsing --------------------------------------------------------------------------------


class QueryKind(enum.Enum):
    EMPTY = "empty"
    LICENSE_ID = "license_id"
    EMAIL = "email"
    EMAIL_DOMAIN = "email_domain"
    SUBSCRIPTION_NAME = "subscription_name"
    HOSTNAME = "hostname"
    NAME = "name"


@dataclass(frozen=True)
class ParsedQuery:
    kind: QueryKind
    text: str  # what the user typed, Slack's markup removed, trimmed and capped
    # The term for `kind`: lowercased email/domain/host, the subscription name upper-cased with
    # its `A-`, a license id's digits.
    value: str
    name_key: str  # company_search_key(text): what the fallback to names searches for
    license_id: int | None = None  # LICENSE_ID only; None when the digits overflow an id

    @property
    def email_domain(self) -> str | None:
        """An EMAIL query's domain, lowercased; None for other kinds."""
        return self.value.rpartition("@")[2] if self.kind is QueryKind.EMAIL else None


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Slack rewrites typed emails, links, mentions and channels as <target|label> or <target>.
_SLACK_MARKUP = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_EMAIL = re.compile(r"^[^@\s<>]+@([a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z0-9-]+)$", re.IGNORECASE)
_EMAIL_DOMAIN = re.compile(r"^@([a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z0-9-]+)$", re.IGNORECASE)
# Zuora names subscriptions `A-S00012345`; people often drop the `A-` (the number is the name).
_SUBSCRIPTION_NAME = re.compile(r"^(?:A-)?(S[0-9]+)$", re.IGNORECASE)
_HOSTNAME = re.compile(
    r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$", re.IGNORECASE
)


def _unwrap_slack_markup(match: re.Match[str]) -> str:
    target, label = match.group(1), match.group(2)
    if target.startswith("mailto:"):
        return target.removeprefix("mailto:")
    if target[:1] in {"@", "#", "!"}:
        # A mention or channel: its label if Slack sent one, else the bare id. Never a customer,
        # but searched as a name (finding nothing) rather than refused.
        return (label or target[1:]).lstrip("@#")
    if "://" in target:
        return label or target
    return label if label is not None else target


def _hostname_of_url(candidate: str) -> str | None:
    if "://" not in candidate:
        return None
    try:
        return urlsplit(candidate).hostname
    except ValueError:
        return None


def parse_query(text: str) -> ParsedQuery:
    """What kind of search the text asks for. Accepts any input; never raises."""
    # Control characters (C0, DEL, C1) are part of no name, email, id or hostname; a NUL
    # reaching PostgreSQL in an email's local part was a DataError, not an answer.
    text = _CONTROL_CHARACTERS.sub(" ", text)
    cleaned = _SLACK_MARKUP.sub(_unwrap_slack_markup, text).strip()[:MAX_QUERY_LENGTH].strip()
    name_key = company_search_key(cleaned)
    if not cleaned:
        return ParsedQuery(QueryKind.EMPTY, "", "", "")
    lowered = cleaned.lower()
    # Cards print license ids as `#12345`: a copied id means the license, as the bare digits do.
    digits = cleaned.removeprefix("#")
    if digits.isascii() and digits.isdigit():
        number = int(digits)
        license_id = number if number <= MAX_LICENSE_ID else None
        return ParsedQuery(QueryKind.LICENSE_ID, cleaned, digits, name_key, license_id)
    if _EMAIL.match(cleaned):
        return ParsedQuery(QueryKind.EMAIL, cleaned, lowered, name_key)
    if match := _EMAIL_DOMAIN.match(cleaned):
        return ParsedQuery(QueryKind.EMAIL_DOMAIN, cleaned, match.group(1).lower(), name_key)
    if match := _SUBSCRIPTION_NAME.match(cleaned):
        subscription_name = f"A-{match.group(1).upper()}"
        return ParsedQuery(QueryKind.SUBSCRIPTION_NAME, cleaned, subscription_name, name_key)
    hostname = _hostname_of_url(cleaned) or lowered.rstrip(".").split("/", 1)[0]
    hostname = hostname.rsplit(":", 1)[0] if re.search(r":\d+$", hostname) else hostname
    if " " not in cleaned and "." in hostname and _HOSTNAME.match(hostname):
        return ParsedQuery(QueryKind.HOSTNAME, cleaned, hostname.lower(), name_key)
    return ParsedQuery(QueryKind.NAME, cleaned, name_key, name_key)


# --- Finding --------------------------------------------------------------------------------


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
    session: Session, text: str, *, today: date, limit: int = 8, load_choices: bool = True
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
    ranked = _rank_names(session, query.name_key)
    matches = [candidate for candidate in ranked if candidate.is_match]
    if not matches:
        suggestions: list[str] = []
        for candidate in ranked:
            if candidate.score >= SUGGESTION_SCORE and candidate.name not in suggestions:
                suggestions.append(candidate.name)
        return SearchResult(query, suggestions=tuple(suggestions[:MAX_SUGGESTIONS]))
    exact = [candidate for candidate in matches if candidate.search_key == query.name_key]
    # The query is one customer's folded name, legal form kept (`Acme Corp`): that customer,
    # whoever else shares its words (`ACME GmbH`); `Acme` names several, so they are picked from.
    folded = company_name(query.text).folded
    same_name = [candidate for candidate in exact if company_name(candidate.name).folded == folded]
    if len(same_name) == 1:
        chosen = same_name[0]
        others = tuple((c.key, c.name) for c in matches if c.key != chosen.key)
        result = _result(
            session, query, QueryKind.NAME, [chosen.key], limit, True, load_choices, today
        )
        return replace(result, also_matching=others[:MAX_ALSO_MATCHING])
    keys = [candidate.key for candidate in matches]
    winner = exact[0].key if len(exact) == 1 else (keys[0] if len(keys) == 1 else None)
    if winner is not None and winner != keys[0]:
        keys = [winner, *(key for key in keys if key != winner)]
    return _result(
        session, query, QueryKind.NAME, keys, limit, winner is not None, load_choices, today
    )


def _result(
    session: Session,
    query: ParsedQuery,
    matched_by: QueryKind,
    keys: Sequence[str],
    limit: int,
    clear_winner: bool,
    load_choices: bool,
    today: date,
) -> SearchResult:
    if clear_winner and not load_choices:
        # Every matcher reads keys from (or joined to) the customer table: the key exists.
        return SearchResult(query, matched_by=matched_by, resolved_key=keys[0])
    choices = tuple(customer_choices(session, keys[:limit], today=today))
    resolved = choices[0] if clear_winner and choices and choices[0].key == keys[0] else None
    return SearchResult(
        query,
        choices=choices,
        resolved=resolved,
        matched_by=matched_by,
        has_more=len(keys) > limit,
        resolved_key=resolved.key if resolved else None,
    )


_Matcher = Callable[[Session, int], list[str]]


def _exact_matchers(query: ParsedQuery) -> list[tuple[QueryKind, _Matcher]]:
    """The matchers other than names for this query, in the order they are tried."""
    value = query.value
    if query.kind is QueryKind.LICENSE_ID and query.license_id is not None:
        license_id = query.license_id
        return [(query.kind, lambda s, n: _customers_of(s, License.id == license_id, n))]
    if query.kind is QueryKind.EMAIL:
        # An address no license was sent to most likely belongs to a customer of its domain;
        # `matched_by` tells the caller which of the two answered (see `unsent_email`).
        domain = query.email_domain or ""
        return [
            (query.kind, lambda s, n: _customers_of(s, License.contact_email_key == value, n)),
            (QueryKind.EMAIL_DOMAIN, lambda s, n: _domain_customers(s, domain, n)),
        ]
    if query.kind is QueryKind.EMAIL_DOMAIN:
        return [(query.kind, lambda s, n: _domain_customers(s, value, n))]
    if query.kind is QueryKind.SUBSCRIPTION_NAME:
        return [(query.kind, lambda s, n: _subscription_customers(s, value, n))]
    if query.kind is QueryKind.HOSTNAME:
        return [
            (QueryKind.HOSTNAME, lambda s, n: _host_customers(s, value, n)),
            (QueryKind.EMAIL_DOMAIN, lambda s, n: _domain_customers(s, value, n)),
        ]
    return []


def _customers_of(session: Session, license_filter: ColumnElement[bool], limit: int) -> list[str]:
    """Customers of the licenses matching the filter: most matching licenses first."""
    statement = (
        select(License.customer_key)
        .join(Customer, Customer.key == License.customer_key)
        .where(license_filter)
        .group_by(License.customer_key)
        .order_by(
            func.count().desc(),
            func.max(License.issued_at).desc().nulls_last(),
            License.customer_key,
        )
        .limit(limit)
    )
    return list(session.scalars(statement))


def _domain_customers(session: Session, domain: str, limit: int) -> list[str]:
    return _customers_of(session, License.contact_email_domain == domain, limit)


def _host_customers(session: Session, hostname: str, limit: int) -> list[str]:
    # An instance reports its license by our id, else by the license file's MD5: two
    # statements, the second only when the first finds nothing (one statement with OR was
    # planned as a scan of the licenses on PostgreSQL: 40 ms at 100,000).
    licensed = select(Host.license_id).where(Host.hostname == hostname)
    found = _customers_of(session, License.id.in_(licensed), limit)
    if found:
        return found
    by_md5 = select(Host.license_md5).where(Host.hostname == hostname, Host.license_id.is_(None))
    return _customers_of(session, License.license_md5.in_(by_md5), limit)


def _subscription_customers(session: Session, subscription_name: str, limit: int) -> list[str]:
    """Licenses of the subscription (by name, else by any of its versions' Zuora ids from the
    subscriptions export), else its reconciliations' customers (bot.store.customers)."""
    found = _customers_of(session, License.zuora_subscription_name == subscription_name, limit)
    if found:
        return found
    versions = select(Subscription.zuora_subscription_id).where(
        Subscription.subscription_name == subscription_name
    )
    found = _customers_of(session, License.zuora_subscription_id.in_(versions), limit)
    if found:
        return found
    owners = select(Reconciliation.customer_key).where(
        Reconciliation.subscription_name == subscription_name
    )
    statement = (
        select(Customer.key)
        .where(Customer.key.in_(owners))
        .order_by(Customer.name, Customer.key)
        .limit(limit)
    )
    return list(session.scalars(statement))


# --- Names ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    key: str
    name: str
    search_key: str
    tier: int  # 0 exact, 1 key starts with the query, 2 a word does, 3 substring, 4 fuzzy
    score: float  # trigram similarity, 0..1

    @property
    def is_match(self) -> bool:
        return self.tier < _FUZZY_TIER or self.score >= MATCH_SCORE


_FUZZY_TIER = 4


def _rank_names(session: Session, name_key: str) -> list[_Candidate]:
    if not name_key:
        return []
    rows = _name_candidates(session, name_key)
    query = _ScoredQuery(name_key, trigrams(name_key), len(name_key.split()))
    candidates = {
        key: _score_candidate(key, name, search_key, query) for key, name, search_key in rows
    }
    return sorted(
        candidates.values(),
        key=lambda c: (c.tier, -c.score, len(c.search_key), c.name.casefold(), c.key),
    )


_Row = tuple[str, str, str]  # customer key, name, search key


def _name_candidates(session: Session, name_key: str) -> list[_Row]:
    """At most a few LIMITed, index-served probes, cheapest and most telling first; each later
    probe runs only while it can still change the answer.

    1. Keys starting with the query (a B-tree range, ordered by key, so an exact key comes
       first). A unique exact key wins whatever else matches; a range that fills the candidates
       outranks anything the other probes find.
    2. Keys with a word starting with the query, and keys containing it (trigram index), up to
       CANDIDATE_LIMIT of each: word starts outrank matches inside a word, so however many
       names have the query inside a word, they cannot crowd those out. A full set of either
       outranks fuzzy matches.
    3. Keys containing all but one of the query's words (trigram index): a typo in one word of
       a name made of words shared with thousands of others ("mese media 125000"). When they
       are few (the probe did not fill), they are the names the query means: any other name
       misses two of its words.
    4. Corrected words: each query word that is no word of any name ("moonarch") is matched
       against the vocabulary of name words (`search_word`: thousands of rows, not every name;
       one LIMITed statement for all the words), and the query with its nearest words
       ("monarch", at most MAX_CORRECTED_QUERIES variants) is looked up by key range, then by
       all its words (`_corrected_candidates`); what that finds settles the answer. This answers a typo in a one-word query and
       typos in several words without ranking names; the ranking here is against the query
       as typed, so a correction only decides which names are scored.
    5. The fuzzy probe: names sharing the most trigrams, ranked by the engine over every name
       sharing one. The costliest statement a lookup can run, so it is the last resort: only
       when 1-4 found too little (no word to correct, or corrections no name has).
    Probes 2 and 3 are not ranked by the engine: ranking is what costs (every match must be
    scored before the first is known), and below CANDIDATE_LIMIT rows they return every
    match anyway, which this module then ranks against the query as typed.
    """
    dialect = session.get_bind().dialect.name
    if dialect not in {"sqlite", "postgresql"}:
        return _prefix_candidates(session, name_key)
    probes = _SQLITE_PROBES if dialect == "sqlite" else _POSTGRESQL_PROBES
    found, settled = _cheap_candidates(session, probes, name_key)
    if settled:
        return found
    corrected = _corrected_candidates(session, probes, _corrected_keys(session, probes, name_key))
    if corrected:
        return found + corrected
    found.extend(probes.fuzzy(session, name_key))
    return found


def _cheap_candidates(
    session: Session, probes: _TrigramProbes, name_key: str
) -> tuple[list[_Row], bool]:
    """Probes 1-3 of `_name_candidates` for `name_key`, and whether they settle the answer
    (the fuzzy probe could not change it)."""
    found = _prefix_candidates(session, name_key)
    if len(name_key) < MIN_TRIGRAM_QUERY_LENGTH:
        return found, True
    if [row[2] for row in found[:2]].count(name_key) == 1 or len(found) >= CANDIDATE_LIMIT:
        return found, True
    if len(name_key) >= MIN_SUBSTRING_QUERY_LENGTH:
        containing = probes.containing(session, name_key)
        found.extend(containing)
        if len(containing) >= CANDIDATE_LIMIT:
            return found, True
    words = _probe_words(name_key)
    if len(words) >= 2:
        near = probes.with_all_words_of_any(session, _all_but_one(words))
        found.extend(near)
        if 0 < len(near) < CANDIDATE_LIMIT:
            return found, True
    return found, False


def _corrected_candidates(
    session: Session, probes: _TrigramProbes, corrected_keys: Sequence[str]
) -> list[_Row]:
    """Probe 4 for the corrected queries: keys starting with each, then keys with every word of
    any of them (one statement for all), or for a one-word query a word starting with it or
    containing it. Not all but one word: the words are now the vocabulary's, and a name missing
    one of them is what the fuzzy probe, ranking every name, is better at finding."""
    found: list[_Row] = []
    word_sets: list[list[str]] = []
    for corrected_key in corrected_keys:
        starting = _prefix_candidates(session, corrected_key)
        found.extend(starting)
        exact = [row[2] for row in starting[:2]].count(corrected_key) == 1
        if exact or len(starting) >= CANDIDATE_LIMIT:
            continue
        words = _probe_words(corrected_key)
        if len(words) >= 2:
            word_sets.append(words)
        elif len(corrected_key) >= MIN_SUBSTRING_QUERY_LENGTH:
            found.extend(probes.containing(session, corrected_key))
    if word_sets:
        found.extend(probes.with_all_words_of_any(session, word_sets))
    return found


# The name vocabulary (`search_word`, migration 0006) holds the words of search keys with at
# least this many characters and no digit: "2500" or "7" would add a word per customer.
MIN_VOCABULARY_WORD_LENGTH = 3
_DIGIT = re.compile(r"[0-9]")
# A vocabulary word replaces a query word when their trigram similarity reaches this ("initek"
# -> "initech" 0.5, "globel" -> "global" 0.4); the nearest few of those are tried, and at most
# MAX_CORRECTED_QUERIES combinations of them when several words are misspelt.
WORD_CORRECTION_SCORE = 0.3
MAX_WORD_CORRECTIONS = 2
MAX_CORRECTED_QUERIES = 3
# Vocabulary words each engine hands back per query word, before they are scored here (SQLite's
# bm25 order only approximates trigram similarity: a few dozen, not the best few).
WORD_CANDIDATE_LIMIT = 50
# Longer query words are not corrected: no name word is this long, and SQLite's vocabulary probe
# pairs a word's trigrams (n²/2 clauses: a 200-letter word took over a second).
MAX_CORRECTABLE_WORD_LENGTH = 30


def search_words(search_key: str) -> set[str]:
    """The words of a search key that belong in the name vocabulary."""
    return {
        word
        for word in search_key.split()
        if len(word) >= MIN_VOCABULARY_WORD_LENGTH and not _DIGIT.search(word)
    }


def _corrected_keys(session: Session, probes: _TrigramProbes, name_key: str) -> list[str]:
    """`name_key` with its misspelt words replaced by their nearest vocabulary words, nearest
    first; empty when no word is misspelt or none has a near word.

    A word is misspelt when it is no vocabulary word. A stale vocabulary word (of a customer
    since renamed or deleted) is harmless: the corrected query finds no name and the lookup
    falls through to the fuzzy probe."""
    words = name_key.split()
    vocabulary_shaped = [
        word for word in words if search_words(word) and len(word) <= MAX_CORRECTABLE_WORD_LENGTH
    ]
    checked = list(dict.fromkeys(vocabulary_shaped))[:MAX_PROBE_WORDS]
    if not checked:
        return []
    nearest = probes.nearest_words(session, checked)
    options: dict[str, list[tuple[float, str]]] = {}
    for word in checked:
        scored = sorted(
            (
                (_similarity(_word_trigrams(word), _word_trigrams(candidate)), candidate)
                for candidate in nearest.get(word, ())
            ),
            key=lambda pair: (-pair[0], pair[1]),
        )
        if scored and scored[0][1] == word:
            continue  # a word of some name: not misspelt
        options[word] = [pair for pair in scored if pair[0] >= WORD_CORRECTION_SCORE][
            :MAX_WORD_CORRECTIONS
        ]
    if not any(options.values()):
        return []
    # A word without a near vocabulary word stays as typed (probe 3 may still skip it).
    choices = [options.get(word) or [(1.0, word)] for word in words]
    combinations = sorted(
        itertools.product(*choices), key=lambda combo: -sum(score for score, _ in combo)
    )
    return [" ".join(word for _, word in combo) for combo in combinations[:MAX_CORRECTED_QUERIES]]


# Words shorter than a trigram cannot be looked up in a trigram index (and "co" or "7" would
# match most names anyway); beyond a few words the probe's size grows as words squared.
MIN_PROBE_WORD_LENGTH = 3
MAX_PROBE_WORDS = 4


def _probe_words(name_key: str) -> list[str]:
    """The query's distinct words the all-but-one probe looks for, in query order."""
    long_words = [word for word in name_key.split() if len(word) >= MIN_PROBE_WORD_LENGTH]
    return list(dict.fromkeys(long_words))[:MAX_PROBE_WORDS]


def _all_but_one(words: Sequence[str]) -> list[list[str]]:
    """[a, b, c] -> [[b, c], [a, c], [a, b]]: one word left out (the one with the typo)."""
    return [[*words[:skipped], *words[skipped + 1 :]] for skipped in range(len(words))]


def _prefix_candidates(session: Session, name_key: str) -> list[_Row]:
    # A range over a B-tree index on search_key: under binary (C) collation every key starting
    # with `name_key` sorts between it and it + the highest code point. SQLite compares text
    # bytewise by default; on PostgreSQL the column's collation follows the database's locale,
    # so the range reads migration 0005's C-collated index (LIKE 'x%' could not be served by
    # the plain index under a non-C locale, nor return the keys in order).
    search_key: ColumnElement[str] = Customer.search_key
    if session.get_bind().dialect.name == "postgresql":
        search_key = Customer.search_key.collate("C")
    statement = (
        select(Customer.key, Customer.name, Customer.search_key)
        .where(search_key >= name_key, search_key < name_key + "\U0010ffff")
        .order_by(search_key)
        .limit(CANDIDATE_LIMIT)
    )
    return [tuple(row) for row in session.execute(statement)]  # type: ignore[misc]


@dataclass(frozen=True)
class _TrigramProbes:
    """One engine's trigram-index probes (steps 2-5 of `_name_candidates`)."""

    containing: Callable[[Session, str], list[_Row]]
    # Names containing every word of any of the word sets (probe 3, and 4 on corrected words).
    with_all_words_of_any: Callable[[Session, Sequence[Sequence[str]]], list[_Row]]
    # query word -> the vocabulary words nearest it (one statement for all the words)
    nearest_words: Callable[[Session, Sequence[str]], dict[str, list[str]]]
    fuzzy: Callable[[Session, str], list[_Row]]


# Names of the SQLite FTS5 table (migration 0002) kept in step with customer.search_key.
SQLITE_NAME_INDEX = "customer_search"


# FTS5's trigram tokenizer: a quoted string is a substring match (spaces included, so
# '" acme"' is a word starting with "acme"), an OR of trigrams is a match on any shared
# trigram. ORDER BY rank (bm25: more shared trigrams, shorter keys first) scores every matching
# row first; unranked, the LIMIT stops reading early.
def _sqlite_matching_rowids(parameter: str, *, ranked: bool = False) -> str:
    order = " ORDER BY rank" if ranked else ""
    return (
        f"SELECT rowid FROM {SQLITE_NAME_INDEX} WHERE {SQLITE_NAME_INDEX} MATCH :{parameter}"
        f"{order} LIMIT :limit"
    )


_SQLITE_CUSTOMERS_WHERE_ROWID_IN = (
    "SELECT c.key, c.name, c.search_key FROM customer AS c WHERE c.rowid IN "
)


def _sqlite_match(session: Session, expression: str, *, ranked: bool) -> list[_Row]:
    rows = session.execute(
        text(
            f"{_SQLITE_CUSTOMERS_WHERE_ROWID_IN}({_sqlite_matching_rowids('probe', ranked=ranked)})"
        ),
        {"probe": expression, "limit": CANDIDATE_LIMIT},
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def _sqlite_containing(session: Session, name_key: str) -> list[_Row]:
    # Word starts and matches anywhere, each LIMITed on its own: however many names contain
    # the query inside a word, they cannot crowd out the word starts.
    rows = session.execute(
        text(
            f"{_SQLITE_CUSTOMERS_WHERE_ROWID_IN}("
            f"SELECT rowid FROM ({_sqlite_matching_rowids('word_start')})"
            f" UNION SELECT rowid FROM ({_sqlite_matching_rowids('probe')}))"
        ),
        {
            "word_start": _fts_string(" " + name_key),
            "probe": _fts_string(name_key),
            "limit": CANDIDATE_LIMIT,
        },
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def _fts_string(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _sqlite_trigrams(name_key: str) -> list[str]:
    """The distinct 3-character substrings, as FTS5's trigram tokenizer cuts the key."""
    return list(dict.fromkeys(name_key[i : i + 3] for i in range(len(name_key) - 2)))


# The FTS5 trigram table over the name vocabulary (migration 0006).
SQLITE_WORD_INDEX = "search_word_trigram"


def _sqlite_nearest_words(session: Session, words: Sequence[str]) -> dict[str, list[str]]:
    # Per word, the vocabulary words sharing at least two of its padded trigrams (every word
    # within WORD_CORRECTION_SCORE does: both have four or more), best bm25 first; far fewer
    # words to rank than those sharing one trigram. One UNION ALL for all the words.
    parts = [
        f"SELECT {position} AS position, search_word.word FROM search_word"
        f" WHERE search_word.rowid IN ("
        f"SELECT rowid FROM {SQLITE_WORD_INDEX} WHERE {SQLITE_WORD_INDEX} MATCH :probe{position}"
        f" ORDER BY rank LIMIT {WORD_CANDIDATE_LIMIT})"
        for position in range(len(words))
    ]
    parameters = {
        f"probe{position}": " OR ".join(
            f"({_fts_string(first)} AND {_fts_string(second)})"
            for first, second in itertools.combinations(sorted(_word_trigrams(word)), 2)
        )
        for position, word in enumerate(words)
    }
    nearest: dict[str, list[str]] = {word: [] for word in words}
    for position, word in session.execute(text(" UNION ALL ".join(parts)), parameters):
        nearest[words[position]].append(word)
    return nearest


_SQLITE_PROBES = _TrigramProbes(
    containing=_sqlite_containing,
    nearest_words=_sqlite_nearest_words,
    with_all_words_of_any=lambda session, word_sets: _sqlite_match(
        session,
        " OR ".join(
            "(" + " AND ".join(_fts_string(word) for word in kept) + ")" for kept in word_sets
        ),
        ranked=False,
    ),
    fuzzy=lambda session, name_key: _sqlite_match(
        session, " OR ".join(_fts_string(t) for t in _sqlite_trigrams(name_key)), ranked=True
    ),
)


def _postgresql_containing(session: Session, name_key: str) -> list[_Row]:
    columns = (Customer.key, Customer.name, Customer.search_key)
    word_start = select(*columns).where(
        Customer.search_key.contains(" " + name_key, autoescape=True)
    )
    inside = select(*columns).where(Customer.search_key.contains(name_key, autoescape=True))
    # Selected from, so the statement starts with SELECT like every other (the plan and
    # statement-count tests capture statements by their first word).
    both = union(word_start.limit(CANDIDATE_LIMIT), inside.limit(CANDIDATE_LIMIT)).subquery()
    return [tuple(row) for row in session.execute(select(both))]  # type: ignore[misc]


def _postgresql_with_all_words_of_any(
    session: Session, word_sets: Sequence[Sequence[str]]
) -> list[_Row]:
    # A BitmapOr of GIN scans, each intersecting its words' trigram lists: a name with all the
    # words is found without ranking the thousands that share one.
    statement = (
        select(Customer.key, Customer.name, Customer.search_key)
        .where(
            or_(
                *(
                    and_(*(Customer.search_key.contains(word, autoescape=True) for word in kept))
                    for kept in word_sets
                )
            )
        )
        .limit(CANDIDATE_LIMIT)
    )
    return [tuple(row) for row in session.execute(statement)]  # type: ignore[misc]


# pg_trgm's operators `%` and `<%` match at or above these thresholds (set per transaction),
# looser than MATCH_SCORE so near misses reach the ranking as suggestions.
PG_SIMILARITY_THRESHOLD = 0.2
PG_WORD_SIMILARITY_THRESHOLD = 0.4


def _postgresql_fuzzy(session: Session, name_key: str) -> list[_Row]:
    session.execute(
        select(
            func.set_config("pg_trgm.similarity_threshold", str(PG_SIMILARITY_THRESHOLD), True),
            func.set_config(
                "pg_trgm.word_similarity_threshold", str(PG_WORD_SIMILARITY_THRESHOLD), True
            ),
        )
    )
    search_key = Customer.search_key
    query = literal(name_key)
    statement = (
        select(Customer.key, Customer.name, search_key)
        .where(
            or_(
                search_key.op("%", is_comparison=True)(query),
                query.op("<%", is_comparison=True)(search_key),
            )
        )
        .order_by(
            func.greatest(
                func.similarity(search_key, query), func.word_similarity(query, search_key)
            ).desc(),
            func.length(search_key),
            Customer.key,
        )
        .limit(CANDIDATE_LIMIT)
    )
    return [tuple(row) for row in session.execute(statement)]  # type: ignore[misc]


def _postgresql_nearest_words(session: Session, words: Sequence[str]) -> dict[str, list[str]]:
    # Per word, the vocabulary words within WORD_CORRECTION_SCORE (`%`, served by migration
    # 0006's GIN index), most similar first, LIMITed. `%` reads its threshold from the
    # transaction, set first (the fuzzy probe sets its own, looser, if it runs later).
    session.execute(
        select(func.set_config("pg_trgm.similarity_threshold", str(WORD_CORRECTION_SCORE), True))
    )
    rows = session.execute(
        text(
            "SELECT query.word, nearest.word FROM unnest(CAST(:words AS text[])) AS query(word)"
            " CROSS JOIN LATERAL (SELECT search_word.word FROM search_word"
            " WHERE search_word.word % query.word"
            " ORDER BY similarity(search_word.word, query.word) DESC, search_word.word"
            f" LIMIT {WORD_CANDIDATE_LIMIT}) AS nearest"
        ),
        {"words": list(words)},
    )
    nearest: dict[str, list[str]] = {word: [] for word in words}
    for word, candidate in rows:
        nearest[word].append(candidate)
    return nearest


_POSTGRESQL_PROBES = _TrigramProbes(
    containing=_postgresql_containing,
    nearest_words=_postgresql_nearest_words,
    with_all_words_of_any=_postgresql_with_all_words_of_any,
    fuzzy=_postgresql_fuzzy,
)


@dataclass(frozen=True)
class _ScoredQuery:
    """What scoring needs of the query, computed once per lookup, not once per candidate."""

    key: str
    trigrams: frozenset[str]
    width: int  # words


def _score_candidate(key: str, name: str, search_key: str, query: _ScoredQuery) -> _Candidate:
    if search_key == query.key:
        tier = 0
    elif search_key.startswith(query.key):
        tier = 1
    elif f" {query.key}" in f" {search_key}":
        tier = 2
    elif len(query.key) >= MIN_SUBSTRING_QUERY_LENGTH and query.key in search_key:
        tier = 3
    else:
        tier = _FUZZY_TIER
    score = _trigram_score(query.trigrams, query.width, search_key)
    return _Candidate(key, name, search_key, tier, score)


def trigrams(value: str) -> frozenset[str]:
    """pg_trgm's trigrams: each word padded with two spaces before and one after."""
    return frozenset().union(*(_word_trigrams(word) for word in value.split()))


@functools.lru_cache(maxsize=65536)
def _word_trigrams(word: str) -> frozenset[str]:
    # Company names share their words: each word's trigrams are cut once per process, not
    # once per candidate (ranking scores up to a few hundred candidates per lookup).
    padded = f"  {word} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


def _similarity(left: frozenset[str], right: frozenset[str]) -> float:
    if not left or not right:
        return 0.0
    shared = len(left & right)
    return shared / (len(left) + len(right) - shared)


def trigram_score(query: str, search_key: str) -> float:
    """How alike a query and a key are, 0..1: their trigram similarity, or that of the query
    with the best run of as many consecutive words of the key, so "initek" scores well against
    "initech global services" (an approximation of pg_trgm's word_similarity)."""
    return _trigram_score(trigrams(query), len(query.split()), search_key)


def _trigram_score(query_trigrams: frozenset[str], query_width: int, search_key: str) -> float:
    key_words = [_word_trigrams(word) for word in search_key.split()]
    best = _similarity(query_trigrams, frozenset().union(*key_words))
    width = min(query_width, len(key_words))
    if width == len(key_words):
        return best  # the only window is the whole key
    # A window's trigrams are its words' trigrams: each word is padded on its own.
    windows = (
        key_words
        if width == 1
        else (
            frozenset().union(*key_words[start : start + width])
            for start in range(len(key_words) - width + 1)
        )
    )
    for window in windows:
        best = max(best, _similarity(query_trigrams, window))
    return best


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
    rows = session.execute(
        select(Customer.key, Customer.search_key)
        .where(Customer.search_key.in_(list(phrases)))
        .order_by(Customer.key)
    ).all()
    if not rows:
        return None
    best_key, _ = min(rows, key=lambda row: phrases[row[1]])
    return next(iter(customer_choices(session, [best_key], today=today)), None)
