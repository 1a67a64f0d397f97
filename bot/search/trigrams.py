"""Trigram similarity as pg_trgm computes it, in Python, so both engines rank alike.

The probes (bot.search.probes) use it to score vocabulary words against a misspelt query word;
the ranking (bot.search.ranking) to score candidate names against the query.
"""

from __future__ import annotations

import functools


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
    key_words, whole = _key_trigrams(search_key)
    if not query_trigrams or not whole:
        return 0.0
    # `_similarity`, inline: ranking calls this for every candidate (up to a few hundred a
    # lookup).
    query_size = len(query_trigrams)
    shared = len(query_trigrams & whole)
    if not shared:
        return 0.0  # no window of the key shares a trigram either
    best = shared / (query_size + len(whole) - shared)
    width = min(query_width, len(key_words))
    if width == len(key_words):
        return best  # the only window is the whole key
    # A window's trigrams are its words' trigrams: each word is padded on its own. Ranking
    # scores up to a few hundred keys a lookup, so the windows are compared inline: the same
    # arithmetic as `_similarity`, without a call per window, and a window sharing no trigram
    # with the query (most words of most keys) cannot raise the best score.
    if width == 1:
        for window in key_words:
            shared = len(query_trigrams & window)
            if shared:
                best = max(best, shared / (query_size + len(window) - shared))
        return best
    for window in _key_windows(search_key, width):
        shared = len(query_trigrams & window)
        if shared:
            best = max(best, shared / (query_size + len(window) - shared))
    return best


@functools.lru_cache(maxsize=8192)
def _key_trigrams(search_key: str) -> tuple[tuple[frozenset[str], ...], frozenset[str]]:
    # The words' trigram sets of the keys lookups met recently, and the whole key's (a few
    # hundred keys a lookup; about 400 bytes each): a query asked again, or one sharing its
    # words, splits no key again.
    words = tuple(_word_trigrams(word) for word in search_key.split())
    return words, frozenset().union(*words)


@functools.lru_cache(maxsize=8192)
def _key_windows(search_key: str, width: int) -> tuple[frozenset[str], ...]:
    # Each run of `width` consecutive words of a key, as one trigram set (its words' padded
    # trigrams), for the keys lookups met recently: a query of several words scores each
    # candidate against these (up to a hundred keys a lookup, each joining its words' sets anew
    # cost a third of the ranking).
    words, _ = _key_trigrams(search_key)
    return tuple(
        frozenset().union(*words[start : start + width]) for start in range(len(words) - width + 1)
    )
