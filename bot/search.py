"""Query text -> what the user meant (DESIGN.md: Search)."""

from __future__ import annotations

import re
import unicodedata

# Legal-form words dropped from company names so "Acme, Inc." and "ACME GmbH" meet at "acme".
LEGAL_SUFFIXES = frozenset(
    (
        "inc incorporated llc llp lp ltd limited corp corporation co company plc gmbh mbh ag"
        " kg kgaa ug sa sas sarl sl srl spa bv nv oy oyj ab as asa aps pty pte kk gk sdn bhd pvt"
    ).split()
)

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def company_search_key(name: str) -> str:
    """Casefolded, accents, punctuation and legal suffixes removed; words single-spaced.

    A name made only of suffix words ("Company Ltd") keeps them rather than becoming empty.
    """
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    without_accents = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = [w for w in _NON_WORD.sub(" ", without_accents).replace("_", " ").split() if w]
    # "g.m.b.h." and "s.a." arrive as single letters once punctuation is gone: rejoin them.
    merged: list[str] = []
    run: list[str] = []
    for word in [*words, ""]:
        if len(word) == 1 and word.isalpha():
            run.append(word)
            continue
        if run:
            joined = "".join(run)
            merged.extend([joined] if joined in LEGAL_SUFFIXES else run)
            run = []
        if word:
            merged.append(word)
    kept = [w for w in merged if w not in LEGAL_SUFFIXES]
    return " ".join(kept or merged)
