"""A vocabulary of the words in customer names, for correcting a misspelt query word (issue 6).

A one-word typo ("Moonarch") matches no name by prefix, word or all-but-one word, and the fuzzy
probe over names scores every name sharing a trigram: tens of thousands when names share their
words. The distinct words of the names are few (thousands), so bot.search corrects each
misspelt query word against them and looks the corrected words up with its cheap probes.

`search_word` holds the words of customer.search_key of three letters or more without digits
("2500" or "7" would add a row per customer and correct nothing). The importer adds the words
of every customer it writes (bot.store.customers); nothing removes them: a word left by a
renamed or deleted customer only corrects a query to a word no name has, which finds nothing
and falls through to the fuzzy probe. This migration fills it from the existing customers.

SQLite: a contentless FTS5 trigram table over the words padded as pg_trgm pads a word ("  word "),
kept in step by triggers (they fire only for a new word: the importer skips words already there,
ON CONFLICT DO NOTHING); bot.search asks it for words sharing at least two of a query word's trigrams, which
every word similar enough to be a correction does, and far fewer words than share one.
PostgreSQL: a pg_trgm GIN index serving `%` (a GiST index's nearest-first scan was tried: 40 ms
over 100,000 words, against 1-7 ms for GIN).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SQLITE_WORD_INDEX = "search_word_trigram"  # bot.search.SQLITE_WORD_INDEX
POSTGRESQL_WORD_INDEX = "ix_search_word_trgm"  # bot.store.schema.SEARCH_INDEX_OBJECTS
# bot.search.MIN_VOCABULARY_WORD_LENGTH; copied, so this migration stays what it was.
MIN_WORD_LENGTH = 3
FILL_BATCH = 5000

# Contentless: the indexed text (the padded word) is not the content table's, so it is given to
# the index by the triggers, and a delete must hand back exactly what was indexed.
_SQLITE_UPGRADE = (
    f"CREATE VIRTUAL TABLE {SQLITE_WORD_INDEX} USING fts5(word, content='', tokenize='trigram')",
    f"""CREATE TRIGGER {SQLITE_WORD_INDEX}_after_insert AFTER INSERT ON search_word BEGIN
        INSERT INTO {SQLITE_WORD_INDEX} (rowid, word) VALUES (new.rowid, '  ' || new.word || ' ');
    END""",
    f"""CREATE TRIGGER {SQLITE_WORD_INDEX}_after_delete AFTER DELETE ON search_word BEGIN
        INSERT INTO {SQLITE_WORD_INDEX} ({SQLITE_WORD_INDEX}, rowid, word)
        VALUES ('delete', old.rowid, '  ' || old.word || ' ');
    END""",
)

_SQLITE_DOWNGRADE = (
    f"DROP TRIGGER IF EXISTS {SQLITE_WORD_INDEX}_after_delete",
    f"DROP TRIGGER IF EXISTS {SQLITE_WORD_INDEX}_after_insert",
    f"DROP TABLE IF EXISTS {SQLITE_WORD_INDEX}",
)


def upgrade() -> None:
    op.create_table(
        "search_word",
        sa.Column("word", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("word", name=op.f("pk_search_word")),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            "INSERT INTO search_word (word) SELECT DISTINCT word FROM customer,"
            " regexp_split_to_table(customer.search_key, ' ') AS word"
            f" WHERE length(word) >= {MIN_WORD_LENGTH} AND word !~ '[0-9]'"
        )
        # fastupdate off, as for the names' index (0002): the importer adds few words.
        op.execute(
            f"CREATE INDEX {POSTGRESQL_WORD_INDEX} ON search_word"
            " USING gin (word gin_trgm_ops) WITH (fastupdate = off)"
        )
        return
    if dialect == "sqlite":
        for statement in _SQLITE_UPGRADE:
            op.execute(statement)
    _fill_in_python()


def _fill_in_python() -> None:
    # SQLite has no string splitting in SQL: the keys are read and split here.
    connection = op.get_bind()
    words: set[str] = set()
    for (search_key,) in connection.execute(sa.text("SELECT search_key FROM customer")):
        words.update(
            word
            for word in search_key.split()
            if len(word) >= MIN_WORD_LENGTH and not any("0" <= c <= "9" for c in word)
        )
    ordered = sorted(words)
    insert = sa.text("INSERT INTO search_word (word) VALUES (:word)")
    for start in range(0, len(ordered), FILL_BATCH):
        connection.execute(insert, [{"word": word} for word in ordered[start : start + FILL_BATCH]])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_DOWNGRADE:
            op.execute(statement)
    op.drop_table("search_word")  # its PostgreSQL index goes with it
