"""Ranking the candidate names of a name query: match tiers, then trigram similarity.

One scoring function for both engines, so SQLite and PostgreSQL agree on the order: an exact
key, then a key starting with the query, a word starting with it, a key containing it (every
company's name before a person's), then fuzzy matches by trigram score (bot.search.trigrams). Candidates come from bot.search.probes,
a row per name; a customer is ranked by its best name (a company's or account's before a
person's, and the name spelt as the query is, legal form and all, first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy.orm import Session

from bot.names import company_name
from bot.search.probes import _name_candidates, min_substring_length
from bot.search.trigrams import _trigram_score, trigrams

# Trigram scores (0..1): at or above MATCH_SCORE a candidate is a match; between
# SUGGESTION_SCORE and MATCH_SCORE it is only offered as "did you mean".
MATCH_SCORE = 0.35
SUGGESTION_SCORE = 0.2


class _Candidate(NamedTuple):
    """One candidate name, scored. A named tuple, not a frozen dataclass: a lookup builds one
    per candidate row (up to a few hundred), and a frozen dataclass's __init__ sets each field
    through object.__setattr__, which cost a third of the ranking."""

    key: str  # the customer's
    name: str  # the customer's shown name
    search_key: str  # of the name that matched
    tier: int  # 0 exact, 1 key starts with the query, 2 a word does, 3 substring, 4 fuzzy
    score: float  # trigram similarity, 0..1
    matched_name: str = ""  # the name that matched, as the exports spell it
    folded: str = ""  # its folded form, legal form kept (bot.search.company_name)
    kind: str = "customer"  # bot.store.customers.NAME_KINDS

    @property
    def is_match(self) -> bool:
        return self.tier < _FUZZY_TIER or self.score >= MATCH_SCORE


_FUZZY_TIER = 4
# A person's name ranks after every company's that matches as well as by the query's words
# (a rep looks up a company; "Bruce Wayne" the person is a match, "Bruce Wayne Foundation" the
# company comes first), and before the fuzzy guesses.
_KIND_RANK = {"customer": 0, "account": 0, "company": 0, "contact": 1}


def _rank_names(
    session: Session, name_key: str, query_text: str = "", *, enough: int | None = None
) -> list[_Candidate]:
    """The customers whose names match `name_key`, best first, each by its best name.
    `query_text`: the query as typed, so that of one customer's names the one spelt as the
    query (`Acme Corp`, not `Acme Inc.`) is the one that matched. `enough`: only the first
    that many customers must be right (and there be that many if as many match); the list
    may then end there (`bot.search.probes._name_candidates`)."""
    if not name_key:
        return []
    rows = _name_candidates(session, name_key, enough=enough)
    query = _ScoredQuery(
        name_key,
        trigrams(name_key),
        len(name_key.split()),
        company_name(query_text).folded if query_text else name_key,
        min_substring_length(name_key),
    )
    best: dict[str, tuple[tuple[object, ...], _Candidate]] = {}
    # Each row's match tier and trigram score, and what orders it first: word matches before
    # fuzzy ones, companies before people, then the match tier. Inline: this loop runs for
    # every candidate row (up to a few hundred a lookup), and a row's candidate is only built
    # when it is its customer's best name so far.
    key_of_query, trigrams_of_query, width = query.key, query.trigrams, query.width
    word_start = f" {key_of_query}"
    substring_matches = len(key_of_query) >= query.min_substring
    # A name two probes found (the key range and the substring probe) is scored once.
    for row in dict.fromkeys(rows):
        key, name, search_key, matched_name, folded, kind = row
        if search_key == key_of_query:
            tier = 0
        elif search_key.startswith(key_of_query):
            tier = 1
        elif word_start in f" {search_key}":
            tier = 2
        elif substring_matches and key_of_query in search_key:
            tier = 3
        else:
            tier = _FUZZY_TIER
        score = _trigram_score(trigrams_of_query, width, search_key)
        order = (
            (tier >= _FUZZY_TIER, _KIND_RANK.get(kind, 1), tier),
            folded != query.folded,
            -score,
            len(search_key),
            matched_name,
        )
        kept = best.get(key)
        if kept is None or order < kept[0]:
            candidate = _Candidate(key, name, search_key, tier, score, matched_name, folded, kind)
            best[key] = (order, candidate)
    # Each customer's sort key once (its rank is already in its order); keys are distinct, so
    # no two sort keys are equal.
    ranked = sorted(
        (
            (order[0], order[2], order[3], candidate.name.casefold(), candidate.key),
            candidate,
        )
        for order, candidate in best.values()
    )
    return [candidate for _, candidate in ranked]


@dataclass(frozen=True)
class _ScoredQuery:
    """What scoring needs of the query, computed once per lookup, not once per candidate."""

    key: str
    trigrams: frozenset[str]
    width: int  # words
    folded: str  # the query's folded form, legal form kept
    min_substring: int  # from how many characters a substring is a match
