"""The WSGI app driven as Slack drives it: signed form-encoded commands, `payload=` interactions.

Runs on both engines, against the loopback Slack stand-in; asserts on the HTTP responses, on
what reached the stand-in (Web API calls, response_url posts) and on the audit table.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import ids
from bot.store.importing import import_file
from tests.helpers.e2e_dataset import ALL_CONTACT_EMAILS, INITECH_EMAIL
from tests.helpers.http_bot import ACCESS_URL, ALLOWED, SECRET, Bot
from tests.helpers.slack_requests import (
    event_body,
    post_to_wsgi,
    slash_command_body,
)
from tests.helpers.slack_standin import SlackStandIn
from tests.helpers.store_down import app_with_the_store_down


def message_json(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


def test_license_command_answers_ephemerally_in_the_http_response(bot):
    response = bot.command("/license", "initech")
    assert response.status == 200
    message = response.json()
    assert message["response_type"] == "ephemeral"
    assert message["text"]
    shown = message_json(message)
    assert "Initech" in shown
    assert INITECH_EMAIL in shown  # the requester sees who received the license
    assert "gitlab.initech.example" in shown
    assert "https://customers.gitlab.com/admin/license/9001" in shown
    # Answered in the response itself: no Web API call was needed (identity is looked up once;
    # Bolt checks the token once per process, at its first request rather than at boot).
    assert {call.method for call in bot.slack.calls} <= {"users.info", "auth.test"}
    assert bot.slack.call_count("auth.test") <= 1
    [row] = bot.audit_rows()
    assert (row.surface, row.outcome, row.user_id, row.query) == (
        "/license",
        "ok",
        ALLOWED,
        "initech",
    )


@pytest.mark.parametrize(
    "query", ["initek", "INITECH llc", "bill.lumbergh@initech.example", "@initech.example",
              "a-s00090001", "9001", "gitlab.initech.example"],
)  # fmt: skip
def test_every_kind_of_query_finds_the_customer(bot, query):
    message = bot.command("/license", query).json()
    assert message["blocks"][0]["text"]["text"].startswith("Initech"), message_json(message)


def test_a_second_command_costs_no_slack_api_call(bot):
    bot.command("/license", "initech")
    bot.command("/license", "globex")
    assert bot.slack.call_count("users.info") == 1


def test_ambiguous_name_gives_a_pick_list_and_picking_replaces_the_reply(bot):
    message = bot.command("/license", "umbrel").json()
    buttons = [
        block["accessory"]
        for block in message["blocks"]
        if block.get("accessory", {}).get("action_id") == ids.CUSTOMER_PICK_LICENSE_ACTION
    ]
    assert len(buttons) == 2
    response = bot.click(ids.CUSTOMER_PICK_LICENSE_ACTION, buttons[0]["value"], name="pick")
    assert response.status == 200
    [posted] = bot.wait_for_response_post("pick")
    assert posted["replace_original"] is True
    assert posted["response_type"] == "ephemeral"
    assert "Umbrella" in posted["blocks"][0]["text"]["text"]


def test_share_posts_the_card_in_channel_without_contact_emails(bot):
    bot.slack.add_channel("C0SALES")  # an internal public channel: the conversation check passes
    message = bot.command("/license", "initech").json()
    [share] = [
        element
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element.get("action_id") == ids.LICENSE_SHARE_ACTION
    ]
    response = bot.click(ids.LICENSE_SHARE_ACTION, share["value"], name="share")
    assert response.status == 200
    [posted] = bot.wait_for_response_post("share")
    assert posted["response_type"] == "in_channel"
    assert posted["replace_original"] is False
    shown = message_json(posted)
    assert "Initech" in shown
    for email in ALL_CONTACT_EMAILS:
        assert email not in shown
    assert f"<@{ALLOWED}>" in shown  # credited to the person who shared it
    assert ids.LICENSE_SHARE_ACTION not in shown  # no share button on a shared card


def test_recon_command_lists_reconciliations_newest_first(bot):
    message = bot.command("/recon", "initech").json()
    shown = message_json(message)
    assert "$4,312.50" in shown
    assert "Customer opted out" in shown
    assert "Zuora rejected the amendment" in shown
    assert shown.index("$4,312.50") < shown.index("Zuora rejected")


@pytest.mark.parametrize("query", ["#9001", "S00090001", "s00090001"])
def test_a_license_id_and_a_subscription_as_the_card_prints_them_find_the_customer(bot, query):
    message = bot.command("/license", query).json()
    assert message["blocks"][0]["text"]["text"].startswith("Initech"), message_json(message)


def import_licenses(bot: Bot, directory: Path, rows: list[dict[str, object]]) -> None:
    """One more licenses export on top of the dataset (an upsert, as the operator runs it)."""
    path = directory / "more-licenses.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    import_file(bot.wsgi._services.session_factory, "licenses", path)


def license_row(license_id: int, company: str, email: str, account: str, **dates: str):
    return {
        "Id": license_id, "Company": company, "Contact Email": email, "Plan": "premium",
        "User Count": 10, "Trial": "false", "Salesforce Account Id": account, **dates,
    }  # fmt: skip


def block_texts(message: dict[str, Any]) -> list[str]:
    return [block["text"]["text"] for block in message["blocks"] if "text" in block]


def test_an_address_no_license_was_sent_to_is_said_before_the_domains_customer(bot, caplog):
    caplog.set_level(logging.DEBUG)
    message = bot.command("/license", "Nobody@Initech.example").json()
    notice, header = block_texts(message)[:2]
    assert notice == (
        "No license was sent to Nobody@Initech.example; showing the customer with licenses "
        "sent to @Initech.example."
    )
    assert header.startswith("Initech")
    assert message["text"].startswith("No license was sent to Nobody@Initech.example;")
    # The query (an email) is the audit table's, never the log's.
    assert "nobody@initech" not in caplog.text.lower()
    [row] = bot.audit_rows()
    assert (row.query, row.outcome) == ("Nobody@Initech.example", "ok")


def test_an_address_no_license_was_sent_to_lists_the_domains_customers(bot, tmp_path):
    import_licenses(
        bot,
        tmp_path,
        [license_row(9301, "Umbrella Pharmaceuticals", "ops@umbrella.example", "0016100000UMBPHA")],
    )
    message = bot.command("/license", "nobody@umbrella.example").json()
    notice, intro = block_texts(message)[:2]
    assert notice == (
        "No license was sent to nobody@umbrella.example; showing the customers with licenses "
        "sent to @umbrella.example."
    )
    assert intro == "Several customers match “@umbrella.example”. Pick one:"
    picks = [b for b in message["blocks"] if b.get("block_id", "").startswith("pick:")]
    assert len(picks) == 2


def test_an_address_received_licenses_answers_without_a_notice(bot):
    message = bot.command("/license", INITECH_EMAIL).json()
    assert block_texts(message)[0].startswith("Initech")
    assert "No license was sent" not in message_json(message)


def test_a_customer_in_grace_reads_the_same_in_the_pick_list_and_on_its_card(bot, tmp_path):
    # Globex Corporation's only license expired 5 days ago (the dataset): in grace. A second
    # Globex with an active license makes "glob" a pick list.
    today = datetime.now(UTC).date()
    dates = {
        "Starts At": today.isoformat(),
        "Expires At": (today + timedelta(days=365)).isoformat(),
    }
    industries = license_row(
        9400, "Globex Industries", "it@globex-industries.example", "0016100000GLOBIN", **dates
    )
    import_licenses(bot, tmp_path, [industries])
    message = bot.command("/license", "glob").json()
    picks = {
        block["text"]["text"].split(" · ")[0]: block
        for block in message["blocks"]
        if block.get("block_id", "").startswith(ids.PICK_LIST_BLOCK_PREFIX)
    }
    assert set(picks) == {"*Globex Corporation*", "*Globex Industries*"}
    in_grace = picks["*Globex Corporation*"]
    assert in_grace["text"]["text"].endswith(" · expired, in grace period")
    assert picks["*Globex Industries*"]["text"]["text"].endswith(" · Premium, 10 seats")

    bot.click(ids.CUSTOMER_PICK_LICENSE_ACTION, in_grace["accessory"]["value"], name="pick")
    [card] = bot.wait_for_response_post("pick")
    lead = next(text for text in block_texts(card) if "#9100" in text)
    assert lead.startswith("⚠️ *Expired, in grace period*")


def test_nothing_found_suggests_nearest_names_and_empty_query_shows_usage(bot):
    not_found = message_json(bot.command("/license", "zzzqqq nothing").json())
    assert "No customer" in not_found
    usage = message_json(bot.command("/license", "   ").json())
    assert "/license" in usage and "A-S00012345" in usage


@pytest.mark.parametrize("query", ["<!channel>", "<@U123ABC> hi", "<!here|here>", "x" * 5000])
def test_hostile_queries_are_answered_and_never_become_mentions(bot, query):
    response = bot.command("/license", query)
    assert response.status == 200
    shown = message_json(response.json())
    assert "<!channel>" not in shown and "<!here" not in shown and "<@U123ABC>" not in shown


def test_someone_not_on_the_allowlist_is_refused_politely_with_no_data(bot):
    message = bot.command("/license", "initech", user_id="UNOTLISTED").json()
    shown = message_json(message)
    assert ACCESS_URL in shown
    assert "Initech" not in shown and "initech" not in shown.replace("initech", "", 0)
    [row] = bot.audit_rows()
    assert (row.outcome, row.reason, row.user_id) == ("denied", "not_listed", "UNOTLISTED")


def test_a_listed_guest_is_refused(bot):
    shown = message_json(bot.command("/license", "initech", user_id="UGUEST").json())
    assert INITECH_EMAIL not in shown and "9001" not in shown
    assert bot.audit_rows()[-1].reason == "guest"


def test_a_refused_user_clicking_a_share_button_gets_nothing_shared(bot):
    bot.click(ids.LICENSE_SHARE_ACTION, "sf:0016100000INITEC", user_id="UNOTLISTED", name="x")
    time.sleep(0.3)
    shown = message_json(bot.slack.responses_to("x"))
    assert "in_channel" not in shown and "Initech" not in shown


def test_bad_signature_and_stale_timestamp_get_401(bot):
    body = slash_command_body("/license", "initech")
    assert post_to_wsgi(bot.wsgi, body, "wrong-secret").status == 401
    stale = int(time.time()) - 6 * 60
    assert post_to_wsgi(bot.wsgi, body, SECRET, timestamp=stale).status == 401
    assert bot.audit_rows() == []


def test_url_buttons_are_acknowledged(bot):
    response = bot.click(ids.link_action_id("customersdot"), "", name="link")
    assert response.status == 200


def test_health_and_readiness_probes(bot):
    def get(path: str) -> tuple[str, dict[str, Any]]:
        captured: dict[str, str] = {}
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path}
        body = b"".join(bot.wsgi(environ, lambda status, headers: captured.update(s=status)))
        return captured["s"], json.loads(body)

    assert get("/healthz") == ("200 OK", {"status": "ok"})
    assert get("/readyz") == ("200 OK", {"ready": True, "store": "ok"})
    assert get("/nope")[0].startswith("404")


def test_head_probes_get_the_get_headers_and_no_body(bot):
    """A body on a HEAD answer is dropped by gunicorn with a WARNING on every probe."""

    def call(method: str, path: str) -> tuple[str, dict[str, str], bytes]:
        captured: dict[str, Any] = {}
        environ = {"REQUEST_METHOD": method, "PATH_INFO": path}
        body = b"".join(
            bot.wsgi(environ, lambda status, headers: captured.update(s=status, h=dict(headers)))
        )
        return captured["s"], captured["h"], body

    for path in ("/healthz", "/readyz"):
        get_status, get_headers, get_body = call("GET", path)
        head_status, head_headers, head_body = call("HEAD", path)
        assert (head_status, head_headers, head_body) == (get_status, get_headers, b"")
        assert get_headers["Content-Length"] == str(len(get_body))


def test_readiness_probes_write_no_alembic_lines_but_db_upgrade_does(bot, caplog):
    from bot.store.schema import upgrade

    caplog.set_level(logging.DEBUG, logger="alembic")
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/readyz"}
    for _ in range(3):
        b"".join(bot.wsgi(environ, lambda status, headers: None))
    assert [r for r in caplog.records if r.name.startswith("alembic")] == []
    upgrade(bot.wsgi._services.engine)
    assert any(r.name == "alembic.runtime.migration" for r in caplog.records)


def test_a_lookup_during_an_import_is_answered_and_audited(bot):
    """An import holds the store's write lock for its whole transaction; lookups go on."""
    from bot.store.models import Customer

    services = bot.wsgi._services
    with services.session_factory() as importing:
        importing.add(Customer(key="name:in flight", name="In Flight", search_key="in flight"))
        importing.flush()  # the write lock is now held until this session ends
        response = bot.command("/license", "initech")
        assert response.status == 200
        assert "Initech" in message_json(response.json())
        importing.rollback()
    assert [(row.surface, row.outcome) for row in bot.audit_rows()] == [("/license", "ok")]


def test_a_store_that_is_down_gets_a_clear_answer_and_the_app_keeps_serving(
    settings, slack_standin
):
    slack_standin.add_user(ALLOWED, email="ae@sales.example")
    wsgi = app_with_the_store_down(settings, slack_standin, SECRET)
    body = slash_command_body("/license", "initech", response_url=slack_standin.response_url())
    for _ in range(2):
        response = post_to_wsgi(wsgi, body, SECRET)
        assert response.status == 200
        assert "unavailable" in response.json()["text"]
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/readyz"}
    statuses: list[str] = []
    b"".join(wsgi(environ, lambda status, headers: statuses.append(status)))
    assert statuses == ["503 Service Unavailable"]


@pytest.mark.parametrize("kind", ["error", "server_error"])
def test_a_share_slack_does_not_take_is_explained_in_the_users_dm(bot, kind):
    bot.slack.add_channel("C0SALES")
    bot.slack.fail("respond/share", kind)
    response = bot.click(ids.LICENSE_SHARE_ACTION, "sf:0016100000INITEC", name="share")
    assert response.status == 200
    deadline = time.monotonic() + 10
    while not bot.slack.calls_to("chat.postMessage") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert bot.slack.responses_to("share") == []  # nothing reached the channel
    [opened] = bot.slack.calls_to("conversations.open")
    assert opened.params["users"] == ALLOWED
    [dm] = bot.slack.calls_to("chat.postMessage")
    assert "nothing was shared" in dm.params["text"]
    assert INITECH_EMAIL not in json.dumps(dm.params)


# ---- Slack unreachable, or the token refused, at a worker's first request ---------------------
# Workers boot without calling Slack, so the token is checked with auth.test at the first
# request (bot.slack.authorization); issue 13.


def _slack_outage(slack: SlackStandIn, kind: str) -> None:
    """auth.test fails on its first attempt and on the one retry bot.slack.client allows."""
    if kind == "timeout":
        slack.delay("auth.test", 2.0)  # past the client's 1.5 s attempt timeout, not retried
    else:
        slack.fail("auth.test", kind, times=2, retry_after=0)


@pytest.mark.parametrize("kind", ["disconnect", "server_error", "rate_limited", "timeout"])
def test_slack_unreachable_at_the_first_request_is_answered_then_the_next_asks_again(
    bot, caplog, kind
):
    caplog.set_level(logging.INFO)
    _slack_outage(bot.slack, kind)

    response = bot.command("/license", "initech")

    assert response.status == 200
    message = response.json()
    assert message["response_type"] == "ephemeral"
    assert "couldn't check who you are" in message["text"]
    assert INITECH_EMAIL not in message_json(message)
    # Without the bot's own workspace nobody can be told a member: Slack is not asked about
    # the user, and nothing is cached.
    assert bot.slack.calls_to("users.info") == []
    assert [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()] == []
    # One line of ours (slack_sdk writes its own one-line error for each failed attempt).
    [warning] = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and not r.name.startswith("slack_sdk")
    ]
    assert (warning.levelname, warning.name) == ("WARNING", "bot.slack.authorization")
    assert "auth.test" in warning.getMessage()

    # Slack is back: the next request checks the token again and gets the card.
    auth_tests_so_far = bot.slack.call_count("auth.test")
    response = bot.command("/license", "initech")
    assert response.status == 200
    assert INITECH_EMAIL in message_json(response.json())
    assert bot.slack.call_count("auth.test") == auth_tests_so_far + 1
    # ... and only once: a confirmed token is remembered.
    assert INITECH_EMAIL in message_json(bot.command("/license", "initech").json())
    assert bot.slack.call_count("auth.test") == auth_tests_so_far + 1


@pytest.mark.parametrize("error", ["invalid_auth", "token_revoked", "account_inactive"])
def test_a_refused_token_gets_the_setup_notice_and_one_error_line(bot, caplog, error):
    caplog.set_level(logging.INFO)
    bot.slack.fail("auth.test", "error", error=error)

    response = bot.command("/license", "initech")

    assert response.status == 200
    assert response.json() == {
        "response_type": "ephemeral",
        "text": "CustomersDot isn't set up correctly; tell the team that runs it.",
    }
    assert bot.slack.calls_to("users.info") == []
    [line] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.levelname == "ERROR"
    assert error in line.getMessage()
    assert "SLACK_BOT_TOKEN" in line.getMessage()
    assert "python -m bot check" in line.getMessage()
    assert not line.exc_info
    assert bot.audit_rows() == []  # nothing was looked up


def test_lifecycle_events_are_handled_without_auth_test_when_the_token_is_refused(bot):
    # app_uninstalled arrives when the token no longer works: it must not wait for auth.test.
    bot.slack.fail("auth.test", "error", error="invalid_auth", times=10)
    body = event_body({"type": "app_uninstalled", "event_ts": "1700000000.000100"})
    response = post_to_wsgi(bot.wsgi, body, SECRET)
    assert response.status == 200
    assert bot.slack.call_count("auth.test") == 0
