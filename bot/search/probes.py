"""The per-engine probes that find a bounded set of candidate names for a name query.

Names are every name a customer is known by (`customer_name`: its shown name, its accounts',
its licenses' company names, its contacts'). `_name_candidates` runs at most a few LIMITed,
index-served probes over the companies' names: a key range on `customer_name.search_key` (a
B-tree, both engines), then the engine's trigram index (SQLite FTS5, migrations 0009 and 0006;
PostgreSQL pg_trgm), with misspelt words corrected against the name vocabulary
(`search_word`); a query in a CJK script is a substring, found through `name_bigram`. Then,
unless a company's name is the query exactly, the people's names the query starts or is a word
of, through their own indexes. It only finds candidates; bot.search.ranking orders them, with
one scoring function for both engines.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    SQLColumnExpression,
    String,
    and_,
    bindparam,
    func,
    intersect,
    or_,
    select,
    text,
    union,
)
from sqlalchemy.orm import Session

from bot.names import cjk_bigrams, has_cjk, search_words
from bot.search.trigrams import _similarity, _word_trigrams
from bot.store.models import Customer, CustomerName, NameBigram
from bot.store.prepared import PreparedStatement

# How many rows each index probe may hand to the ranking. Bounds the work per lookup however
# many customers share a common trigram.
CANDIDATE_LIMIT = 100
# Below this many characters (after normalising) trigrams say nothing: prefix match instead.
MIN_TRIGRAM_QUERY_LENGTH = 3
# A substring match counts as a match from this length; "ing" is in half the customer list.
MIN_SUBSTRING_QUERY_LENGTH = 4
# In the scripts written without spaces (CJK), a name's words are not delimited: any substring
# of two characters or more is a match (日立 in 日立製作所).
MIN_CJK_SUBSTRING_QUERY_LENGTH = 2
# A CJK query's character pairs intersected in `name_bigram` (the rest are checked on the keys).
MAX_CJK_BIGRAMS = 6


def min_substring_length(name_key: str) -> int:
    return MIN_CJK_SUBSTRING_QUERY_LENGTH if has_cjk(name_key) else MIN_SUBSTRING_QUERY_LENGTH


# customer key, the customer's shown name, and the matched name's search key, spelling, folded
# form and kind (bot.store.customers.NAME_KINDS)
_Row = tuple[str, str, str, str, str, str]
_ROW_COLUMNS = (
    CustomerName.customer_key,
    Customer.name,
    CustomerName.search_key,
    CustomerName.name,
    CustomerName.folded,
    CustomerName.kind,
)


@dataclass(frozen=True)
class NameSet:
    """The names one set of probes reads: companies' (every kind but `contact`) or people's,
    each with its own indexes (migration 0009), so the many people sharing a first name never
    crowd a company out of a LIMITed probe."""

    # Literal, as the partial indexes' predicates are: a bound parameter would keep the
    # planners (both engines') from using them.
    predicate: str
    sqlite_index: str  # its FTS5 trigram table


COMPANY_NAMES = NameSet("customer_name.kind <> 'contact'", "customer_name_search")
CONTACT_NAMES = NameSet("customer_name.kind = 'contact'", "contact_name_search")


def _names(names: NameSet) -> Select[*_Row]:
    """The candidate rows of `names`: names with their customer's shown name."""
    return (
        select(*_ROW_COLUMNS)
        .join(Customer, Customer.key == CustomerName.customer_key)
        .where(text(names.predicate))
    )


def _rows(session: Session, statement: Any, parameters: dict[str, Any] | None = None) -> list[_Row]:
    # As Core on the session's connection: plain rows, without the ORM's execution path.
    return [tuple(row) for row in session.connection().execute(statement, parameters)]


def _name_candidates(session: Session, name_key: str, *, enough: int | None = None) -> list[_Row]:
    """At most a few LIMITed, index-served probes, cheapest and most telling first; each later
    probe runs only while it can still change the answer.

    `enough`: how many customers the caller reads from the top of the ranking (a pick list's
    pages and one more, to know there are more). Each probe finds every name of its rank that
    exists (or fills its LIMIT, which settles the answer as below), and later probes only find
    names that rank lower, so once the names containing the query are `enough` customers',
    the top `enough` of the ranking can no longer change and no later probe runs. The first
    words of names shared by hundreds ("mesa media") stop after the key range or the substring
    probe, not after ranking every name sharing a trigram.

    1. Keys starting with the query (a B-tree range, ordered by key, so an exact key comes
       first). An exact key of one customer's wins whatever else matches; a range that fills
       the candidates outranks anything the other probes find. A query in a CJK script then
       only looks for the names containing it (`_cjk_substring_candidates`): its words are not
       delimited, and no trigram of it says more than its character pairs.
    2. Keys with a word starting with the query, and keys containing it (trigram index), up to
       CANDIDATE_LIMIT of each: word starts outrank matches inside a word, so however many
       names have the query inside a word, they cannot crowd those out. A full set of either
       outranks fuzzy matches. (SQLite, a query of several words: the names containing it are
       picked from those with every word, read first and kept for probe 3,
       `_TrigramProbes.containing_among_every_word`.)
    3. Keys containing all but one of the query's words (trigram index): a typo in one word of
       a name made of words shared with thousands of others ("mese media 125000"). When they
       are few (the probe did not fill), they are the names the query means: any other name
       misses two of its words. When they fill the probe, keys containing every word of the
       query: the words of a name in another order, or a name's first words and the start of
       the next ("stark wayne la": a word too short for a trigram is looked for with the word
       before it, "wayne la"). When those are few, they are the names the query means: any
       other name misses one of its words, and ranking every name sharing a trigram with the
       query would only add such guesses after them, at the price of the costliest statement
       there is.
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
    Steps 1-5 read the companies' names. Between 2 and 3, unless a company's name is the query
    exactly, one statement reads the people's names (`_contact_candidates`); when a person's
    name holds the query, steps 3-5 are skipped: their guesses rank below it anyway.
    Probes 2 and 3 are not ranked by the engine: ranking is what costs (every match must be
    scored before the first is known), and below CANDIDATE_LIMIT rows they return every
    match anyway, which this module then ranks against the query as typed.
    """
    dialect = session.get_bind().dialect.name
    if dialect not in {"sqlite", "postgresql"}:
        return _prefix_candidates(session, COMPANY_NAMES, name_key) + _prefix_candidates(
            session, CONTACT_NAMES, name_key
        )
    probes = _SQLITE_PROBES if dialect == "sqlite" else _POSTGRESQL_PROBES
    words = _probe_words(name_key)
    every_word = _every_word(name_key)
    # The names with every word of the query, when probe 2 read them to find the
    # names containing it: probe 3 would read the same rows again.
    every_word_first = (
        probes.containing_among_every_word and len(words) >= 2 and len(every_word) >= 2
    )
    found, settled, with_every_word = _cheap_candidates(
        session, probes, name_key, enough, every_word if every_word_first else None
    )
    # Distinct names: the key range and the substring probes return some names twice.
    containing_query = len({(row[0], row[2]) for row in found if name_key in row[2]})
    if (
        _exact_key_is_one_customers(found, name_key)
        or containing_query >= CANDIDATE_LIMIT
        or _enough_customers(found, name_key, enough)
    ):
        # A company's name exactly, a full probe of names containing the query, or enough
        # customers whose companies' names contain it: people's names rank after them all
        # (bot.search.ranking), so none could be shown.
        return found
    people = _contact_candidates(session, probes, name_key)
    if settled or any(name_key in row[2] for row in people):
        # People named by the query's words rank above any company the all-but-one-word,
        # corrected or fuzzy probes could find (ranking: word matches before guesses), and
        # those probes cost most: "Elizabeth Wang" is a contact, not a misspelt company.
        return found + people
    if len(words) >= 2:
        near = probes.with_all_words_of_any(session, COMPANY_NAMES, _all_but_one(words))
        found.extend(near)
        if 0 < len(near) < CANDIDATE_LIMIT:
            return found + people
    if len(words) >= 2 and near and len(every_word) >= 2:
        # The all-but-one probe filled: its words are shared by many names. Those with every
        # word are the query's, when there are few.
        if with_every_word is None:
            with_every_word = probes.with_all_words_of_any(session, COMPANY_NAMES, [every_word])
        found.extend(with_every_word)
        if 0 < len(with_every_word) < CANDIDATE_LIMIT:
            return found + people
    corrected = _corrected_candidates(session, probes, _corrected_keys(session, probes, name_key))
    if corrected:
        return found + corrected + people
    return found + probes.fuzzy(session, COMPANY_NAMES, name_key) + people


def _contact_candidates(session: Session, probes: _TrigramProbes, name_key: str) -> list[_Row]:
    """People's names starting with the query, then (from MIN_SUBSTRING_QUERY_LENGTH) with a
    word starting with it, each LIMITed: a person is looked up by their name or surname as
    written, not by part of a word, not corrected or guessed at, and ranks after every company
    (bot.search.ranking)."""
    if has_cjk(name_key) or len(name_key) < MIN_SUBSTRING_QUERY_LENGTH:
        found = _prefix_candidates(session, CONTACT_NAMES, name_key)
        if has_cjk(name_key) and not _exact_key_is_one_customers(found, name_key):
            found.extend(_cjk_substring_candidates(session, CONTACT_NAMES, name_key))
        return found
    return probes.starting_or_containing(session, CONTACT_NAMES, name_key)


def _enough_customers(rows: Sequence[_Row], name_key: str, enough: int | None) -> bool:
    """`rows` hold at least `enough` customers with a name containing the query: a complete
    probe's matches, which outrank whatever a later probe could find."""
    if enough is None:
        return False
    return len({row[0] for row in rows if name_key in row[2]}) >= enough


def _exact_key_is_one_customers(rows: Sequence[_Row], name_key: str) -> bool:
    """The key range found the query's key exactly, as one customer's name(s) only (a prefix
    range lists exact keys first)."""
    exact = {row[0] for row in rows if row[2] == name_key}
    return len(exact) == 1


def _cheap_candidates(
    session: Session,
    probes: _TrigramProbes,
    name_key: str,
    enough: int | None = None,
    every_word: Sequence[str] | None = None,
) -> tuple[list[_Row], bool, list[_Row] | None]:
    """Probes 1-2 of `_name_candidates` over the companies' names, whether they settle the
    answer (nothing later could change it), and the names holding all of `every_word` when
    they were read: given `every_word`, the names containing the query are picked from those
    (`_TrigramProbes.containing_among_every_word`)."""
    with_every_word: list[_Row] | None = None
    found = _prefix_candidates(session, COMPANY_NAMES, name_key)
    if _enough_customers(found, name_key, enough):
        # Enough customers' names start with the query: every name that does is here (the
        # range did not fill, or it settles anyway), and a word inside a name ranks after.
        return found, True, with_every_word
    if has_cjk(name_key):
        # No trigram or word of a CJK name says more than its character pairs: the substrings.
        if _exact_key_is_one_customers(found, name_key) or len(found) >= CANDIDATE_LIMIT:
            return found, True, with_every_word
        if len(name_key) >= MIN_CJK_SUBSTRING_QUERY_LENGTH:
            found.extend(_cjk_substring_candidates(session, COMPANY_NAMES, name_key))
        return found, True, with_every_word
    if len(name_key) < MIN_TRIGRAM_QUERY_LENGTH:
        return found, True, with_every_word
    if _exact_key_is_one_customers(found, name_key) or len(found) >= CANDIDATE_LIMIT:
        return found, True, with_every_word
    if len(name_key) >= MIN_SUBSTRING_QUERY_LENGTH:
        containing: list[_Row] | None = None
        if every_word is not None:
            with_every_word = probes.with_all_words_of_any(session, COMPANY_NAMES, [every_word])
            containing = _containing_among(with_every_word, every_word, name_key)
        if containing is None:
            containing = probes.containing(session, COMPANY_NAMES, name_key)
        found.extend(containing)
        if len(containing) >= CANDIDATE_LIMIT:
            return found, True, with_every_word
    if any(row[2] == name_key for row in found):
        # The query is exactly the names of several customers (two "Vandelay Industries", a
        # contact's name many customers share): they lead whatever else matches, with the
        # names starting with or containing it after them; nothing fuzzy can outrank them.
        return found, True, with_every_word
    return found, False, with_every_word


def _containing_among(
    with_every_word: Sequence[_Row], every_word: Sequence[str], name_key: str
) -> list[_Row] | None:
    """The names containing the query, picked from every name holding all of `every_word`
    (each a part of the query, so a name containing it holds them all): those rows, as
    SQLite's substring probe returns them (in the index's rowid order, as both statements
    read it), when the names holding every word are all there (the probe did not fill) and
    FTS5 matches them as Python does (no text it would fold); else None."""
    if len(with_every_word) >= CANDIDATE_LIMIT or not _fts_folds_as_is(name_key):
        return None
    if not all(word in name_key for word in every_word):
        return None
    if not all(_fts_folds_as_is(row[2]) for row in with_every_word):
        return None
    return [row for row in with_every_word if name_key in row[2]]


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
        starting = _prefix_candidates(session, COMPANY_NAMES, corrected_key)
        found.extend(starting)
        exact = _exact_key_is_one_customers(starting, corrected_key)
        if exact or len(starting) >= CANDIDATE_LIMIT:
            continue
        words = _probe_words(corrected_key)
        if len(words) >= 2:
            word_sets.append(words)
        elif len(corrected_key) >= MIN_SUBSTRING_QUERY_LENGTH:
            found.extend(probes.containing(session, COMPANY_NAMES, corrected_key))
    if word_sets:
        found.extend(probes.with_all_words_of_any(session, COMPANY_NAMES, word_sets))
    return found


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


def _every_word(name_key: str) -> list[str]:
    """The query's words as the all-words probe looks for them, in query order: a word too
    short for a trigram goes with the word before it ("stark wayne la" -> "stark", "wayne la",
    the start of a third word typed after two whole ones)."""
    words: list[str] = []
    for word in name_key.split():
        if len(word) >= MIN_PROBE_WORD_LENGTH:
            words.append(word)
        elif words:
            words[-1] = f"{words[-1]} {word}"
    return list(dict.fromkeys(words))[:MAX_PROBE_WORDS]


def _all_but_one(words: Sequence[str]) -> list[list[str]]:
    """[a, b, c] -> [[b, c], [a, c], [a, b]]: one word left out (the one with the typo)."""
    return [[*words[:skipped], *words[skipped + 1 :]] for skipped in range(len(words))]


def _prefix_candidates(session: Session, names: NameSet, name_key: str) -> list[_Row]:
    connection = session.connection()
    statement = _prefix_statement(names, connection.dialect.name)
    return statement.rows(connection, {"low": name_key, "high": name_key + "\U0010ffff"})


@functools.cache
def _prefix_statement(names: NameSet, dialect: str) -> PreparedStatement:
    # A range over a B-tree index on search_key (a partial one per NameSet): under binary (C)
    # collation every key starting with the query sorts between it and it + the highest code
    # point. SQLite compares text bytewise by default; on PostgreSQL the column's collation
    # follows the database's locale, so the range reads migration 0009's C-collated indexes
    # (LIKE 'x%' could not be served by the plain index under a non-C locale, nor return the
    # keys in order). Built once per name set and engine, run on the driver's cursor
    # (bot/store/prepared.py): every name lookup starts with it.
    search_key: SQLColumnExpression[str] = CustomerName.search_key
    if dialect == "postgresql":
        search_key = CustomerName.search_key.collate("C")
    return PreparedStatement(
        _names(names)
        .where(search_key >= bindparam("low"), search_key < bindparam("high"))
        .order_by(search_key)
        .limit(CANDIDATE_LIMIT)
    )


def _cjk_substring_candidates(session: Session, names: NameSet, name_key: str) -> list[_Row]:
    """Names containing a CJK query: the keys holding every one of its character pairs
    (`name_bigram`, a B-tree), those that contain the query itself. Both engines alike."""
    pairs = sorted(cjk_bigrams(name_key))[:MAX_CJK_BIGRAMS]
    if not pairs:
        return []
    parameters = {f"pair_{position}": pair for position, pair in enumerate(pairs)}
    parameters["query"] = _like_escaped(name_key)
    return _rows(session, _cjk_substring_statement(names, len(pairs)), parameters)


@functools.cache
def _cjk_substring_statement(names: NameSet, pair_count: int) -> Select[*_Row]:
    holding = [
        select(NameBigram.search_key).where(NameBigram.bigram == bindparam(f"pair_{position}"))
        for position in range(pair_count)
    ]
    keys = holding[0] if pair_count == 1 else intersect(*holding)
    return (
        _names(names)
        .where(
            CustomerName.search_key.in_(keys.scalar_subquery()),
            CustomerName.search_key.contains(_like_parameter("query"), escape=_LIKE_ESCAPE),
        )
        .limit(CANDIDATE_LIMIT)
    )


# The statements built once below match a LIKE pattern bound at run time, escaped here as
# `contains(value, autoescape=True)` escapes a literal one: the same SQL, the same plans.
_LIKE_ESCAPE = "/"


def _like_escaped(value: str) -> str:
    return (
        value.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2)
        .replace("%", _LIKE_ESCAPE + "%")
        .replace("_", _LIKE_ESCAPE + "_")
    )


def _like_parameter(name: str) -> BindParameter[str]:
    return bindparam(name, type_=String())


@dataclass(frozen=True)
class _TrigramProbes:
    """One engine's trigram-index probes (steps 2-5 of `_name_candidates`)."""

    containing: Callable[[Session, NameSet, str], list[_Row]]
    # Keys starting with the query, then a word starting with it, in one statement (people's
    # names: one round trip).
    starting_or_containing: Callable[[Session, NameSet, str], list[_Row]]
    # Names containing every word of any of the word sets (probe 3, and 4 on corrected words).
    with_all_words_of_any: Callable[[Session, NameSet, Sequence[Sequence[str]]], list[_Row]]
    # query word -> the vocabulary words nearest it (one statement for all the words)
    nearest_words: Callable[[Session, Sequence[str]], dict[str, list[str]]]
    fuzzy: Callable[[Session, NameSet, str], list[_Row]]
    # The names containing a query of several words are picked from those with every word
    # (probe 3's second statement, read first and kept) while those are few: FTS5 reads the
    # phrase's trigram lists for either (the words' are most of the phrase's), so the
    # substring probe costs nothing more, and a query whose all-but-one probe fills (the start
    # of a third word typed after two common ones) runs one such statement, not two. So on
    # PostgreSQL, whose substring probe looks a phrase up by its words too (`_indexed_words`).
    containing_among_every_word: bool = False


# The SQLite FTS5 table of the companies' names (migrations 0008, 0009).
SQLITE_NAME_INDEX = COMPANY_NAMES.sqlite_index


# FTS5's trigram tokenizer: a quoted string is a substring match (spaces included, so
# '" acme"' is a word starting with "acme"), an OR of trigrams is a match on any shared
# trigram. ORDER BY rank (bm25: more shared trigrams, shorter keys first) scores every matching
# row first; unranked, the LIMIT stops reading early.
def _sqlite_matching_rowids(names: NameSet, parameter: str, *, ranked: bool = False) -> str:
    order = " ORDER BY rank" if ranked else ""
    index = names.sqlite_index
    return f"SELECT rowid FROM {index} WHERE {index} MATCH :{parameter}{order} LIMIT :limit"


_SQLITE_CUSTOMERS_WHERE_ROWID_IN = (
    "SELECT n.customer_key, c.name, n.search_key, n.name, n.folded, n.kind"
    " FROM customer_name AS n JOIN customer AS c ON c.key = n.customer_key WHERE n.id IN "
)


# Each SQLite probe's statement is built once per name set (its text and bound parameters fixed;
# the FTS5 expression is a parameter) and run as Core on the session's connection: a name
# lookup runs several, and a text() built per call is parsed for its parameters and cache-keyed
# again each time.
def _sqlite_execute(
    session: Session, statement: PreparedStatement, parameters: dict[str, Any]
) -> list[_Row]:
    return statement.rows(session.connection(), parameters)


@functools.cache
def _sqlite_match_statement(names: NameSet, ranked: bool) -> PreparedStatement:
    matching = _sqlite_matching_rowids(names, "probe", ranked=ranked)
    return PreparedStatement(text(f"{_SQLITE_CUSTOMERS_WHERE_ROWID_IN}({matching})"))


def _sqlite_match(session: Session, names: NameSet, expression: str, *, ranked: bool) -> list[_Row]:
    return _sqlite_execute(
        session,
        _sqlite_match_statement(names, ranked),
        {"probe": expression, "limit": CANDIDATE_LIMIT},
    )


@functools.cache
def _sqlite_containing_statement(names: NameSet) -> PreparedStatement:
    # Word starts and matches anywhere, each LIMITed on its own: however many names contain
    # the query inside a word, they cannot crowd out the word starts.
    return PreparedStatement(
        text(
            f"{_SQLITE_CUSTOMERS_WHERE_ROWID_IN}("
            f"SELECT rowid FROM ({_sqlite_matching_rowids(names, 'word_start')})"
            f" UNION SELECT rowid FROM ({_sqlite_matching_rowids(names, 'probe')}))"
        )
    )


def _sqlite_containing(session: Session, names: NameSet, name_key: str) -> list[_Row]:
    # The names containing the query anywhere first: while they do not fill the probe they are
    # every match, word starts included, and the word-start scan is not run (FTS5 intersects
    # the trigram lists of the whole phrase for each: as costly as the first, 0.6 ms for three
    # common words at 200,000 licenses). Only a full probe is run again with the word starts.
    # (Every name is of a customer, written together by bot.store.customers: the join drops
    # none, so fewer rows than the LIMIT means FTS5 found fewer.)
    inside = _sqlite_match(session, names, _fts_string(name_key), ranked=False)
    if len(inside) < CANDIDATE_LIMIT:
        return inside
    return _sqlite_execute(
        session,
        _sqlite_containing_statement(names),
        {
            "word_start": _fts_string(" " + name_key),
            "probe": _fts_string(name_key),
            "limit": CANDIDATE_LIMIT,
        },
    )


@functools.cache
def _sqlite_starting_or_containing_statement(names: NameSet) -> PreparedStatement:
    # Keys starting with the query, then, only while those did not fill the probe, keys with a
    # word starting with it (a surname): the condition on the first part's count is constant,
    # so SQLite tests it once and skips the second scan when the first is full.
    starting = (
        f"SELECT id FROM customer_name WHERE {names.predicate}"
        " AND search_key >= :low AND search_key < :high ORDER BY search_key LIMIT :limit"
    )
    return PreparedStatement(
        text(
            f"{_SQLITE_CUSTOMERS_WHERE_ROWID_IN}("
            f"SELECT id FROM ({starting})"
            f" UNION SELECT rowid FROM ({_sqlite_matching_rowids(names, 'word_start')})"
            f" WHERE (SELECT count(*) FROM ({starting})) < :limit)"
        )
    )


def _sqlite_starting_or_containing(session: Session, names: NameSet, name_key: str) -> list[_Row]:
    return _sqlite_execute(
        session,
        _sqlite_starting_or_containing_statement(names),
        {
            "low": name_key,
            "high": name_key + "\U0010ffff",
            "word_start": _fts_string(" " + name_key),
            "limit": CANDIDATE_LIMIT,
        },
    )


def _fts_string(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _sqlite_trigrams(name_key: str) -> list[str]:
    """The distinct 3-character substrings, as FTS5's trigram tokenizer cuts the key."""
    return list(dict.fromkeys(name_key[i : i + 3] for i in range(len(name_key) - 2)))


# The FTS5 trigram table over the name vocabulary (migration 0006).
SQLITE_WORD_INDEX = "search_word_trigram"


@functools.cache
def _sqlite_vocabulary_statement(word_count: int, *, ranked: bool) -> PreparedStatement:
    # Per word (`:probe<position>`), the vocabulary words its FTS5 MATCH finds: best bm25 first
    # up to WORD_CANDIDATE_LIMIT when `ranked`, else unranked up to SQLITE_SHARING_WORDS_LIMIT.
    order = f" ORDER BY rank LIMIT {WORD_CANDIDATE_LIMIT}"
    parts = [
        f"SELECT {position} AS position, search_word.word FROM search_word"
        f" WHERE search_word.rowid IN ("
        f"SELECT rowid FROM {SQLITE_WORD_INDEX} WHERE {SQLITE_WORD_INDEX} MATCH :probe{position}"
        f"{order if ranked else f' LIMIT {SQLITE_SHARING_WORDS_LIMIT}'})"
        for position in range(word_count)
    ]
    return PreparedStatement(text(" UNION ALL ".join(parts)))


# The vocabulary words sharing any trigram with a query word the unranked probe reads, at most
# (see `_sqlite_nearest_words`): a few hundred rows cost less than ranking, more would not.
SQLITE_SHARING_WORDS_LIMIT = 400


def _sqlite_nearest_words(session: Session, words: Sequence[str]) -> dict[str, list[str]]:
    # Per word, the vocabulary words sharing at least two of its padded trigrams (every word
    # within WORD_CORRECTION_SCORE does: both have four or more), best bm25 first; far fewer
    # words to rank than those sharing one trigram. One UNION ALL for all the words (a
    # statement built once per number of words: at most MAX_PROBE_WORDS).
    #
    # Ranking them is what costs (FTS5's bm25 counts every phrase of the OR of pairs over the
    # whole table: 0.8 ms of a one-word typo's lookup at 200,000 licenses, whatever the
    # vocabulary's size), and it only decides which WORD_CANDIDATE_LIMIT of them are handed
    # back when more share two trigrams. So the words sharing any one trigram are read first,
    # unranked (an OR of single trigrams, cheap to evaluate), and those sharing two are picked
    # here: while they are no more than WORD_CANDIDATE_LIMIT they are exactly the rows the
    # ranked probe returns (the caller orders them by similarity), and only a word with more,
    # or more sharing one than the unranked probe reads, is ranked by the engine.
    nearest: dict[str, list[str]] = {word: [] for word in words}
    sharing: dict[str, list[str]] = {word: [] for word in words}
    connection = session.connection()
    parameters = {
        f"probe{position}": " OR ".join(_fts_string(t) for t in sorted(_word_trigrams(word)))
        for position, word in enumerate(words)
    }
    for position, word in _sqlite_vocabulary_statement(len(words), ranked=False).rows(
        connection, parameters
    ):
        sharing[words[position]].append(word)
    ranked: list[str] = []
    for word in words:
        found = sharing[word]
        trigrams = _word_trigrams(word)
        near = [other for other in found if len(trigrams & _word_trigrams(other)) >= 2]
        if (
            len(found) >= SQLITE_SHARING_WORDS_LIMIT
            or len(near) > WORD_CANDIDATE_LIMIT
            or not all(map(_fts_folds_as_is, (word, *found)))
        ):
            ranked.append(word)
        else:
            nearest[word] = near
    if not ranked:
        return nearest
    parameters = {
        f"probe{position}": " OR ".join(
            f"({_fts_string(first)} AND {_fts_string(second)})"
            for first, second in itertools.combinations(sorted(_word_trigrams(word)), 2)
        )
        for position, word in enumerate(ranked)
    }
    statement = _sqlite_vocabulary_statement(len(ranked), ranked=True)
    for position, word in statement.rows(connection, parameters):
        nearest[ranked[position]].append(word)
    return nearest


def _fts_folds_as_is(text: str) -> bool:
    """FTS5's trigram tokenizer matches case-insensitively (folding each character to its
    lower case, by a table no larger than Python's): a text with no upper-case character is
    matched as it is, so trigrams and substrings compared in Python agree with its matches.
    (Search keys and vocabulary words are folded already: anything else is left to FTS5.)"""
    return text == text.lower()


_SQLITE_PROBES = _TrigramProbes(
    containing=_sqlite_containing,
    starting_or_containing=_sqlite_starting_or_containing,
    nearest_words=_sqlite_nearest_words,
    with_all_words_of_any=lambda session, names, word_sets: _sqlite_match(
        session,
        names,
        " OR ".join(
            "(" + " AND ".join(_fts_string(word) for word in kept) + ")" for kept in word_sets
        ),
        ranked=False,
    ),
    fuzzy=lambda session, names, name_key: _sqlite_match(
        session,
        names,
        " OR ".join(_fts_string(t) for t in _sqlite_trigrams(name_key)),
        ranked=True,
    ),
    containing_among_every_word=True,
)


def _postgresql_containing(session: Session, names: NameSet, name_key: str) -> list[_Row]:
    # As on SQLite (`_sqlite_containing`): the names containing the query anywhere first. While
    # they do not fill the probe they are every match, word starts included (a GIN scan's
    # recheck is exact), and the word-start scan is not run: it intersects the same trigram
    # lists, as costly as the first (2.9 ms of 5.6 for "soylent acme sy" at 1M licenses).
    # (Every name is of a customer: the join drops none, so fewer rows than the LIMIT means
    # the index found fewer.) Only a full probe is run again with the word starts.
    inside_words = _indexed_words(name_key)
    parameters = _phrase_parameters("inside", name_key, inside_words)
    inside = _rows(session, _postgresql_inside_statement(names, len(inside_words)), parameters)
    if len(inside) < CANDIDATE_LIMIT:
        return inside
    word_start_words = _indexed_words(" " + name_key)
    parameters.update(_phrase_parameters("word_start", " " + name_key, word_start_words))
    statement = _postgresql_containing_statement(names, len(inside_words), len(word_start_words))
    return _rows(session, statement, parameters)


# pg_trgm cuts a LIKE pattern into words and pads a word with spaces where the pattern itself
# (not a wildcard) ends it: '%soylent acme sy%' reads the trigrams '  a', ' ac', '  s' and ' sy',
# which every name with a word starting so holds (tens of thousands of GIN entries to
# intersect). A phrase of several words is therefore found by its words of a trigram or more,
# each LIKE'd alone (no padding: 'acm', 'cme'), and checked whole by strpos, which the index
# does not serve: a filter on the rows holding every word. At 1M licenses 'soylent acme sy'
# took 2.8 ms, 1.2 so; 'systems global' (no such name) 3.2, 2.1. The same rows in the same
# (physical: a bitmap heap scan's) order, so a LIMITed probe keeps the same ones.
def _indexed_words(phrase: str) -> list[str]:
    """The words a phrase of several words is looked up by (none: the phrase is LIKE'd whole;
    one word's own leading space, a word start, tells more than it costs: '% suzuki%', 1.5 ms
    at 1M licenses, 2.1 by the word alone)."""
    if " " not in phrase.strip():
        return []
    words = [word for word in phrase.split() if len(word) >= MIN_TRIGRAM_QUERY_LENGTH]
    return list(dict.fromkeys(words))[:MAX_PROBE_WORDS]


def _phrase_parameters(name: str, phrase: str, words: Sequence[str]) -> dict[str, str]:
    if not words:
        return {name: _like_escaped(phrase)}
    parameters = {f"{name}_{position}": _like_escaped(word) for position, word in enumerate(words)}
    parameters[name] = phrase
    return parameters


def _postgresql_holding(name: str, word_count: int) -> ColumnElement[bool]:
    """The search key holds the phrase bound as `name` (see `_indexed_words`)."""
    search_key = CustomerName.search_key
    if not word_count:
        return search_key.contains(_like_parameter(name), escape=_LIKE_ESCAPE)
    return and_(
        *(
            search_key.contains(_like_parameter(f"{name}_{position}"), escape=_LIKE_ESCAPE)
            for position in range(word_count)
        ),
        func.strpos(search_key, _like_parameter(name)) > 0,
    )


@functools.cache
def _postgresql_inside_statement(names: NameSet, word_count: int) -> Select[*_Row]:
    return _names(names).where(_postgresql_holding("inside", word_count)).limit(CANDIDATE_LIMIT)


@functools.cache
def _postgresql_containing_statement(
    names: NameSet, inside_words: int, word_start_words: int
) -> Select[*_Row]:
    word_start = _names(names).where(_postgresql_holding("word_start", word_start_words))
    # Word starts and matches anywhere, each LIMITed on its own: however many names contain
    # the query inside a word, they cannot crowd out the word starts.
    both = union(
        word_start.limit(CANDIDATE_LIMIT), _postgresql_inside_statement(names, inside_words)
    ).subquery()
    # Selected from, so the statement starts with SELECT like every other (the plan and
    # statement-count tests capture statements by their first word).
    return select(both)


def _postgresql_starting_or_containing(
    session: Session, names: NameSet, name_key: str
) -> list[_Row]:
    # A word start is looked up by its words (`_indexed_words`): '% wang%' would read the
    # trigram '  w' of every name with a word starting with w.
    words = _indexed_words(" " + name_key)
    parameters = {
        "low": name_key,
        "high": name_key + "\U0010ffff",
        **_phrase_parameters("word_start", " " + name_key, words),
    }
    statement = _postgresql_starting_or_containing_statement(names, len(words))
    return _rows(session, statement, parameters)


@functools.cache
def _postgresql_starting_or_containing_statement(names: NameSet, word_count: int) -> Select[*_Row]:
    search_key = CustomerName.search_key
    in_order = search_key.collate("C")
    starting = (
        _names(names)
        .where(in_order >= _like_parameter("low"), in_order < _like_parameter("high"))
        .order_by(in_order)
        .limit(CANDIDATE_LIMIT)
        .cte("starting")
    )
    # A word starting with the query (a surname), only while the keys starting with it did not
    # fill the probe: an uncorrelated condition, which PostgreSQL tests once (a one-time
    # filter) and so skips the trigram scan when the first part is full.
    word_start = (
        _names(names)
        .where(
            _postgresql_holding("word_start", word_count),
            select(func.count()).select_from(starting).scalar_subquery() < CANDIDATE_LIMIT,
        )
        .limit(CANDIDATE_LIMIT)
    )
    every = union(select(starting), word_start).subquery()
    return select(every)


def _postgresql_with_all_words_of_any(
    session: Session, names: NameSet, word_sets: Sequence[Sequence[str]]
) -> list[_Row]:
    # A BitmapOr of GIN scans, each intersecting its words' trigram lists: a name with all the
    # words is found without ranking the thousands that share one. A word with a short one
    # after it ("acme sy") is looked up by its words and checked whole (`_indexed_words`).
    search_key = CustomerName.search_key
    statement = (
        _names(names)
        .where(
            or_(
                *(
                    and_(
                        *(
                            search_key.contains(word, autoescape=True)
                            for word in dict.fromkeys(
                                word for piece in kept for word in _indexed_words(piece) or [piece]
                            )
                        ),
                        *(func.strpos(search_key, piece) > 0 for piece in kept if " " in piece),
                    )
                    for kept in word_sets
                )
            )
        )
        .limit(CANDIDATE_LIMIT)
    )
    return _rows(session, statement)


# pg_trgm's operators `%` and `<%` match at or above these thresholds (set per transaction),
# looser than MATCH_SCORE so near misses reach the ranking as suggestions.
PG_SIMILARITY_THRESHOLD = 0.2
PG_WORD_SIMILARITY_THRESHOLD = 0.4


def _postgresql_fuzzy(session: Session, names: NameSet, name_key: str) -> list[_Row]:
    session.connection().execute(_FUZZY_THRESHOLDS)
    return _rows(session, _postgresql_fuzzy_statement(names), {"query": name_key})


_FUZZY_THRESHOLDS = select(
    func.set_config("pg_trgm.similarity_threshold", str(PG_SIMILARITY_THRESHOLD), True),
    func.set_config("pg_trgm.word_similarity_threshold", str(PG_WORD_SIMILARITY_THRESHOLD), True),
)


@functools.cache
def _postgresql_fuzzy_statement(names: NameSet) -> Select[*_Row]:
    search_key = CustomerName.search_key
    query = _like_parameter("query")
    return (
        _names(names)
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
            CustomerName.id,
        )
        .limit(CANDIDATE_LIMIT)
    )


def _postgresql_nearest_words(session: Session, words: Sequence[str]) -> dict[str, list[str]]:
    # Per word, the vocabulary words within WORD_CORRECTION_SCORE (`%`, served by migration
    # 0006's GIN index), most similar first, LIMITed. `%` reads its threshold from the
    # transaction, set first (the fuzzy probe sets its own, looser, if it runs later).
    connection = session.connection()
    connection.execute(_CORRECTION_THRESHOLD)
    rows = connection.execute(_NEAREST_WORDS, {"words": list(words)})
    nearest: dict[str, list[str]] = {word: [] for word in words}
    for word, candidate in rows:
        nearest[word].append(candidate)
    return nearest


_CORRECTION_THRESHOLD = select(
    func.set_config("pg_trgm.similarity_threshold", str(WORD_CORRECTION_SCORE), True)
)
_NEAREST_WORDS = text(
    "SELECT query.word, nearest.word FROM unnest(CAST(:words AS text[])) AS query(word)"
    " CROSS JOIN LATERAL (SELECT search_word.word FROM search_word"
    " WHERE search_word.word % query.word"
    " ORDER BY similarity(search_word.word, query.word) DESC, search_word.word"
    f" LIMIT {WORD_CANDIDATE_LIMIT}) AS nearest"
)


_POSTGRESQL_PROBES = _TrigramProbes(
    containing=_postgresql_containing,
    starting_or_containing=_postgresql_starting_or_containing,
    nearest_words=_postgresql_nearest_words,
    with_all_words_of_any=_postgresql_with_all_words_of_any,
    fuzzy=_postgresql_fuzzy,
    containing_among_every_word=True,
)
