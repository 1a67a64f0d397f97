"""bot.slack.authorization: each request's AuthorizeResult, from one auth.test per process."""

from __future__ import annotations

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient

from bot.slack.authorization import SingleWorkspaceAuthorization
from tests.helpers.slack_requests import bolt_request, slash_command_body


def test_each_request_gets_its_own_result_of_the_one_auth_test(slack_standin) -> None:
    client = WebClient(token="xoxb-auth", base_url=slack_standin.api_url)
    authorization = SingleWorkspaceAuthorization(client)
    results = []
    for _ in range(2):
        request = bolt_request(slash_command_body("/license", "initech"), "secret")
        response = authorization.process(
            req=request, resp=BoltResponse(status=404), next=lambda: BoltResponse(status=200)
        )
        assert response.status == 200
        results.append(request.context.authorize_result)
    first, second = results
    auth_test = client.auth_test()
    expected = AuthorizeResult.from_auth_test_response(
        bot_token="xoxb-auth",
        bot_scopes=auth_test.headers.get("x-oauth-scopes"),
        auth_test_response=auth_test,
    )
    assert dict(first) == dict(second) == dict(expected)
    assert vars(first) == vars(expected)
    assert first is not second  # Bolt may change its own
    assert slack_standin.call_count("auth.test") == 2  # the process's one, and the test's own
