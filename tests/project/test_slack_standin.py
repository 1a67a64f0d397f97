"""The Slack stand-in and request builders behave like the real thing to slack_sdk and Bolt."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs

import httpx
import pytest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from bot.logs import quiet_bolt_logs
from tests.helpers.slack_requests import (
    block_actions_body,
    block_actions_payload,
    bolt_request,
    event_body,
    post_to_url,
    post_to_wsgi,
    sign,
    slash_command_body,
)
from tests.helpers.slack_standin import SlackStandIn

SECRET = "standin-test-secret"


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn() as running:
        yield running


@pytest.fixture
def client(standin: SlackStandIn) -> WebClient:
    return WebClient(token="xoxb-standin", base_url=standin.api_url)


def test_listens_on_loopback_only(standin: SlackStandIn) -> None:
    assert standin.api_url.startswith("http://127.0.0.1:")
    assert standin.api_url.endswith("/api/")


def test_records_method_params_and_token_for_form_and_json_calls(
    standin: SlackStandIn, client: WebClient
) -> None:
    standin.add_user("U1", email="jane@acme.io")
    client.users_info(user="U1")
    posted = client.chat_postMessage(
        channel="C1", text="card", blocks=[{"type": "divider"}], thread_ts="1.2"
    )

    users_call, post_call = standin.calls
    assert users_call.method == "users.info"
    assert users_call.params == {"user": "U1"}
    assert users_call.authorization == "Bearer xoxb-standin"
    assert users_call.token == "xoxb-standin"
    assert post_call.method == "chat.postMessage"
    assert post_call.json_param("blocks") == [{"type": "divider"}]
    assert post_call.params["thread_ts"] == "1.2"
    assert posted["channel"] == "C1"
    assert posted["message"]["thread_ts"] == "1.2"
    assert posted["message"]["blocks"] == [{"type": "divider"}]
    assert standin.calls_to("chat.postMessage") == [post_call]


def test_query_string_parameters_are_recorded(standin: SlackStandIn) -> None:
    httpx.get(f"{standin.api_url}users.info?user=U9", headers={"Authorization": "Bearer x"})
    (call,) = standin.calls
    assert (call.http_method, call.params) == ("GET", {"user": "U9"})


def test_every_post_message_gets_a_fresh_ts(client: WebClient) -> None:
    first = client.chat_postMessage(channel="C1", text="a")["ts"]
    second = client.chat_postMessage(channel="C1", text="b")["ts"]
    assert first != second


def test_users_info_answers_the_configured_user_or_user_not_found(
    standin: SlackStandIn, client: WebClient
) -> None:
    standin.add_user("UGUEST", email="g@partner.io", is_restricted=True, is_stranger=True)
    user = client.users_info(user="UGUEST")["user"]
    assert user["is_restricted"] is True
    assert user["is_stranger"] is True
    assert user["team_id"] == standin.team_id
    assert user["profile"]["email"] == "g@partner.io"

    with pytest.raises(SlackApiError) as raised:
        client.users_info(user="UNOBODY")
    assert raised.value.response["error"] == "user_not_found"


def test_usergroups_list_includes_users_only_when_asked(
    standin: SlackStandIn, client: WebClient
) -> None:
    standin.add_usergroup("S0SALES", "sales", ["U1", "U2"])
    standin.add_usergroup("S0OLD", "old-team", ["U3"], disabled=True)

    (group,) = client.usergroups_list()["usergroups"]
    assert group["handle"] == "sales"
    assert "users" not in group
    with_users = client.usergroups_list(include_users=True)["usergroups"]
    assert with_users[0]["users"] == ["U1", "U2"]
    assert len(client.usergroups_list(include_disabled=True)["usergroups"]) == 2

    standin.set_usergroup_members("S0SALES", ["U2"])
    assert client.usergroups_users_list(usergroup="S0SALES")["users"] == ["U2"]
    with pytest.raises(SlackApiError) as raised:
        client.usergroups_users_list(usergroup="S0NOPE")
    assert raised.value.response["error"] == "no_such_subteam"


def test_views_and_conversations(standin: SlackStandIn, client: WebClient) -> None:
    standin.add_channel("C0EXT", is_ext_shared=True, is_member=False)
    opened = client.views_open(
        trigger_id="1.2.3",
        view={"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": []},
    )
    assert opened["view"]["id"].startswith("V")
    assert opened["view"]["type"] == "modal"
    published = client.views_publish(user_id="U1", view={"type": "home", "blocks": []})
    assert published["view"]["type"] == "home"
    channel = client.conversations_info(channel="C0EXT")["channel"]
    assert channel["is_ext_shared"] is True
    assert channel["is_member"] is False
    with pytest.raises(SlackApiError):
        client.conversations_info(channel="C0NONE")
    assert client.conversations_open(users="U1")["channel"]["id"].startswith("D")
    assert client.api_call("team.info")["ok"] is True  # unknown methods: ok, recorded
    assert standin.call_count("team.info") == 1


def test_auth_test_describes_the_workspace(client: WebClient, standin: SlackStandIn) -> None:
    answer = client.auth_test()
    assert (answer["team_id"], answer["user_id"], answer["bot_id"]) == (
        standin.team_id,
        standin.bot_user_id,
        standin.bot_id,
    )


def test_rate_limit_answers_429_with_retry_after_then_recovers(
    standin: SlackStandIn, client: WebClient
) -> None:
    standin.add_user("U1")
    standin.fail("users.info", "rate_limited", retry_after=7)
    with pytest.raises(SlackApiError) as raised:
        client.users_info(user="U1")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["retry-after"] == "7"
    assert client.users_info(user="U1")["ok"] is True


def test_a_retrying_client_sees_the_429_then_the_answer(standin: SlackStandIn) -> None:
    standin.add_user("U1")
    standin.fail("users.info", "rate_limited", retry_after=0)
    retrying = WebClient(
        token="xoxb-standin",
        base_url=standin.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    assert retrying.users_info(user="U1")["user"]["id"] == "U1"
    assert standin.call_count("users.info") == 2


def test_server_errors_and_ok_false_errors(standin: SlackStandIn, client: WebClient) -> None:
    standin.fail("chat.postMessage", "server_error", times=2)
    standin.fail("chat.postMessage", "error", error="channel_not_found")
    for _ in range(2):
        with pytest.raises(SlackApiError) as raised:
            client.chat_postMessage(channel="C1", text="x")
        assert raised.value.response.status_code == 500
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="x")
    assert raised.value.response["error"] == "channel_not_found"
    assert client.chat_postMessage(channel="C1", text="x")["ok"] is True
    assert standin.call_count("chat.postMessage") == 4


def test_delay_outlasts_a_short_client_timeout(standin: SlackStandIn) -> None:
    standin.delay("users.info", 1.0)
    impatient = WebClient(token="xoxb-standin", base_url=standin.api_url, timeout=0.1)
    with pytest.raises(TimeoutError):
        impatient.users_info(user="U1")


def test_response_url_posts_are_recorded_per_name(standin: SlackStandIn) -> None:
    WebhookClient(standin.response_url("cmd")).send(text="hello", response_type="ephemeral")
    WebhookClient(standin.response_url("other")).send(text="elsewhere")
    assert standin.responses_to("cmd") == [{"text": "hello", "response_type": "ephemeral"}]
    assert [post.name for post in standin.response_posts] == ["cmd", "other"]
    standin.clear()
    assert standin.response_posts == [] and standin.calls == []


# ---- request builders -------------------------------------------------------------------------


def test_signature_matches_slacks_verifier() -> None:
    body = slash_command_body("/license", "acme")
    headers = sign(SECRET, 1_700_000_000, body)
    verifier = SignatureVerifier(SECRET, clock=_FixedClock(1_700_000_000))
    assert verifier.is_valid(
        body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )
    assert not verifier.is_valid(
        body + "x", headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )


class _FixedClock:
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def test_slash_command_body_carries_every_field_slack_sends() -> None:
    body = slash_command_body(
        "/recon", "acme inc", user_id="U1", enterprise_id="E1", response_url="http://x/respond"
    )
    fields = {name: values[0] for name, values in parse_qs(body, keep_blank_values=True).items()}
    assert set(fields) == {
        "token",
        "team_id",
        "team_domain",
        "enterprise_id",
        "enterprise_name",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "api_app_id",
        "is_enterprise_install",
        "response_url",
        "trigger_id",
    }
    assert (fields["command"], fields["text"], fields["user_id"]) == ("/recon", "acme inc", "U1")
    assert "enterprise_id" not in parse_qs(slash_command_body("/recon"))


def test_interaction_and_event_bodies_round_trip() -> None:
    payload = block_actions_payload("license_share", value="42", user_id="U7")
    body = block_actions_body(payload)
    assert body.startswith("payload=")
    assert json.loads(parse_qs(body)["payload"][0]) == payload
    envelope = json.loads(event_body({"type": "app_home_opened", "user": "U7"}, team_id="T9"))
    assert envelope["type"] == "event_callback"
    assert envelope["team_id"] == "T9"
    assert envelope["event"]["user"] == "U7"


def _echo_app(standin: SlackStandIn) -> App:
    # A bare Bolt app, with the bot's rule for Bolt's own log lines (as create_app installs it).
    quiet_bolt_logs()
    app = App(
        client=WebClient(token="xoxb-standin", base_url=standin.api_url),
        signing_secret=SECRET,
        token_verification_enabled=False,
        process_before_response=True,
    )

    @app.command("/license")
    def echo(ack, command) -> None:  # type: ignore[no-untyped-def]
        ack(text=f"you asked for {command['text']}")

    return app


def test_bolt_accepts_the_signed_requests_and_rejects_a_bad_signature(
    standin: SlackStandIn,
) -> None:
    app = _echo_app(standin)
    body = slash_command_body("/license", "acme")
    assert app.dispatch(bolt_request(body, SECRET)).body == "you asked for acme"
    assert app.dispatch(bolt_request(body, "wrong-secret")).status == 401


def test_post_to_wsgi_goes_through_the_wsgi_adapter(standin: SlackStandIn) -> None:
    wsgi_app = SlackRequestHandler(_echo_app(standin))
    response = post_to_wsgi(wsgi_app, slash_command_body("/license", "globex"), SECRET)
    assert response.status == 200
    assert response.text == "you asked for globex"


def test_post_to_url_refuses_non_loopback_addresses() -> None:
    with pytest.raises(ValueError, match="loopback"):
        post_to_url("https://example.com/slack/events", "{}", SECRET)
