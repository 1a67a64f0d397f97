"""What one request costs, asserted: SQL statements per /license and /recon, Slack API calls.

Timing lives in benchmarks/; these counts guard the shape that makes a lookup fast. They are
the same whatever a customer's number of licenses, hosts or reconciliations (queries load
sets, never row by row), so a change that adds a query per license, or a second card load,
fails here. A warm /license calls Slack not at all: the identity cache answers the allowlist.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, event

from bot.app import create_app
from bot.config import Settings
from bot.services import build_services
from tests.helpers.e2e_dataset import load_dataset
from tests.helpers.slack_requests import bolt_request, slash_command_body, with_fresh_trigger_id
from tests.helpers.sql_capture import captured_statements

SECRET = "costs-signing-secret"
ALLOWED = "UALLOWED"
SQL_VERBS = ("SELECT", "WITH", "INSERT", "UPDATE", "DELETE")

# (command, query) -> (SQLite, PostgreSQL) SQL statements for one warm request, audit write
# and rate-limit check included. Raise a figure only with a reason: each is paid on every
# lookup. A unique exact name is one key lookup on both engines, then the card: the customer
# with its data-as-of and its licenses in one statement, then its servers, read only when that
# statement says a server reports one of its licenses (Initech's do, Globex's not); a
# reconciliation card is one statement, the customer with its data-as-of and its
# reconciliations. Other names run bot.search's LIMITed probes in turn (key range, substring, all words but one, then misspelt words corrected against
# the name vocabulary, one statement (on PostgreSQL after setting pg_trgm's threshold), and the
# key range of the corrected query; last the fuzzy trigram ranking, which on PostgreSQL first
# sets pg_trgm's thresholds), each only while it can change the answer. A corrected typo costs
# one statement more than the fuzzy ranking it replaces (the vocabulary, then the key range);
# a query with no word to correct pays the vocabulary read, a LIMITed index read, and on
# PostgreSQL its threshold, before the ranking. Each figure begins with the read of the store's
# data generation (bot/answers/answer_cache.py: the query was not asked in it before), and has
# the INSERT that claims the request's signature (bot/request_claim.py), so a replay of it is
# refused, in the lookup's own transaction; then, on PostgreSQL, the user's rate-limit lock
# (pg_advisory_xact_lock; on SQLite the claim has taken the audit file's write lock already), so
# that concurrent requests of one user cannot all pass the check before any is counted; the
# audit row is written in the same transaction, which is the request's one commit.
# A name that is no company's exactly then reads the people's names that start with it or
# contain it, in one statement (the contacts' own index, migration 0009).
# The card of a customer with an account or subscription (Initech's) says what was sent to its
# company domains but filed elsewhere ("also sent to @domain", issue 17): its first statement
# tells whether another customer's license went to one of them at all, and only then is
# what was sent read (one indexed statement more); none went to Initech's.
EXPECTED_STATEMENTS = {
    ("/license", "initech"): (7, 8),  # exact name
    ("/license", "initek"): (11, 13),  # typo: corrected to "initech"
    ("/license", "bill.lumbergh@initech.example"): (7, 8),  # email
    ("/license", "@initech.example"): (7, 8),  # domain
    ("/license", "A-S00090001"): (7, 8),  # subscription name
    ("/license", "9001"): (7, 8),  # license id
    ("/license", "gitlab.initech.example"): (7, 8),  # hostname
    ("/license", "umbrel"): (11, 13),  # a pick list of two ("umbrel" completed to "umbrella")
    ("/license", "zzzz nothing"): (11, 14),  # not found: no word to correct, the fuzzy ranking
    ("/license", "globex"): (6, 7),  # exact name, a customer no server reports
    ("/recon", "globex"): (6, 7),  # exact name
}


def counted_statements(engine: Engine) -> AbstractContextManager[list[str]]:
    return captured_statements(
        engine, lambda statement: statement.lstrip().upper().startswith(SQL_VERBS)
    )


@pytest.fixture
def bot(store_url, slack_standin, tmp_path):
    slack_standin.add_user(ALLOWED, email="ae@sales.example")
    settings = Settings(
        slack_bot_token="xoxb-costs",
        slack_signing_secret=SECRET,
        slack_api_url=slack_standin.api_url,
        database_url=store_url,
        allowed_user_ids=frozenset({ALLOWED}),
    )
    services = build_services(settings)
    load_dataset(services.session_factory, tmp_path, datetime.now(UTC).date())
    app = create_app(settings, services=services)
    yield app, services.engine
    services.engine.dispose()


@pytest.mark.parametrize(("command", "query"), list(EXPECTED_STATEMENTS))
def test_statements_and_slack_calls_per_request(bot, slack_standin, command, query):
    app, engine = bot
    # Another query warms the identity cache (and reads the generation's data times): this
    # one's answer is not kept yet.
    other = "9001" if query != "9001" else "initech"
    warm = slash_command_body(command, other, user_id=ALLOWED)
    assert app.dispatch(bolt_request(warm, SECRET)).status == 200
    slack_standin.clear()
    body = slash_command_body(command, query, user_id=ALLOWED)
    with counted_statements(engine) as statements:
        response = app.dispatch(bolt_request(body, SECRET))
    assert response.status == 200
    assert slack_standin.call_count() == 0, slack_standin.calls
    shown = "\n".join(statement[:120] for statement in statements)
    sqlite_count, postgresql_count = EXPECTED_STATEMENTS[(command, query)]
    expected = sqlite_count if engine.dialect.name == "sqlite" else postgresql_count
    assert len(statements) == expected, shown


@pytest.mark.parametrize("query", ["initech", "umbrel", "zzzz nothing"])
def test_a_query_asked_again_runs_no_search_and_no_card_load(bot, query):
    """The same query again in the same store generation: its kept answer, the same bytes;
    only the generation's read, the claim, the rate limit (its lock on PostgreSQL) and the
    audit row run."""
    app, engine = bot
    body = slash_command_body("/license", query, user_id=ALLOWED)
    first = app.dispatch(bolt_request(body, SECRET))
    with counted_statements(engine) as statements:
        again = app.dispatch(bolt_request(with_fresh_trigger_id(body), SECRET))
    assert again.status == 200 and again.body == first.body
    shown = "\n".join(statement[:120] for statement in statements)
    assert len(statements) == (4 if engine.dialect.name == "sqlite" else 5), shown
    assert statements[0].lstrip().startswith("SELECT store_meta.value"), shown


def test_a_lookup_is_one_transaction_claim_and_audit_row_included(bot):
    """The replay claim, the rate-limit check, the lookup and its audit row commit together:
    one commit a lookup (there were two, the claim's own first)."""
    app, engine = bot
    body = slash_command_body("/license", "initech", user_id=ALLOWED)
    assert app.dispatch(bolt_request(body, SECRET)).status == 200  # warms the identity cache
    commits: list[object] = []

    def count(connection: object) -> None:
        commits.append(connection)

    event.listen(engine, "commit", count)
    try:
        response = app.dispatch(bolt_request(with_fresh_trigger_id(body), SECRET))
    finally:
        event.remove(engine, "commit", count)
    assert response.status == 200 and "Initech" in response.body
    assert len(commits) == 1
