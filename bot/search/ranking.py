"""Ranking the candidate names of a name query: match tiers, then trigram similarity.

One scoring function for both engines, so SQLite and PostgreSQL agree on the order: an exact
key, then a key starting with the query, a word starting with it, a key containing it, then
fuzzy matches by trigram score (bot.search.trigrams). Candidates come from bot.search.probes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.search.probes import MIN_SUBSTRING_QUERY_LENGTH, _name_candidates
from bot.search.trigrams import _trigram_score, trigrams

# Trigram scores (0..1): at or above MATCH_SCORE a candidate is a match; between
# SUGGESTION_SCORE and MATCH_SCORE it is only offered as "did you mean".
MATCH_SCORE = 0.35
SUGGESTION_SCORE = 0.2


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
