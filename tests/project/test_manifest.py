"""manifest.yml is valid for Slack and agrees with the code (commands, scopes); it is what
`python -m bot manifest` prints, and the HTTP-mode manifest is valid too."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import jsonschema
import pytest
import yaml

from bot import ids
from bot.cli.manifest import BOT_SCOPES, build_manifest, render_manifest
from bot.config import Settings
from tests.helpers.paths import ROOT

SCHEMA_CANDIDATES = [
    ROOT.parent / "shared" / "slack" / "manifest.schema.1.0.0.json",
    ROOT / "tests" / "data" / "manifest.schema.1.0.0.json",
]


@pytest.fixture(scope="module")
def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def _slack_schema() -> dict:
    schema_path = next((p for p in SCHEMA_CANDIDATES if p.exists()), None)
    assert schema_path is not None, "Slack's manifest schema is missing"
    return json.loads(schema_path.read_text())


def test_manifest_is_valid_against_slacks_schema(manifest):
    jsonschema.validate(manifest, _slack_schema())


def _run_manifest_command(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CUSTOMERSDOT_"))},
        "PYTHONPATH": str(ROOT),
        **env,
    }
    # No PyYAML at run time: the command must not need it (it is a dev dependency).
    code = "import sys; sys.modules['yaml'] = None; from bot.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, "manifest", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT / "tests",  # no .env there
    )


def test_manifest_yml_is_what_the_manifest_command_prints():
    result = _run_manifest_command()
    assert result.returncode == 0, result.stderr
    assert result.stdout == (ROOT / "manifest.yml").read_text()


def test_the_http_manifest_fills_in_every_request_url_and_is_valid_for_slack():
    result = _run_manifest_command("--http", "https://example.test/")
    assert result.returncode == 0, result.stderr
    http = yaml.safe_load(result.stdout)
    jsonschema.validate(http, _slack_schema())
    url = "https://example.test/slack/events"
    assert [c["url"] for c in http["features"]["slash_commands"]] == [url] * len(ids.COMMANDS)
    settings = http["settings"]
    assert settings["socket_mode_enabled"] is False
    assert settings["interactivity"]["request_url"] == url
    assert settings["interactivity"]["message_menu_options_url"] == url
    assert settings["event_subscriptions"]["request_url"] == url
    assert "redirect_urls" not in http["oauth_config"]  # one workspace: no OAuth redirect
    socket_mode = yaml.safe_load((ROOT / "manifest.yml").read_text())
    # Everything else is the same app.
    for key in ("display_information", "_metadata"):
        assert http[key] == socket_mode[key]
    assert http["oauth_config"]["scopes"] == socket_mode["oauth_config"]["scopes"]


def test_the_http_manifest_lists_the_oauth_redirect_url_when_oauth_is_configured():
    oauth = Settings(slack_client_id="1.2", slack_client_secret="s", slack_scopes=("commands",))
    http = build_manifest(oauth, http_base_url="https://example.test")
    assert http["oauth_config"]["redirect_urls"] == ["https://example.test/slack/oauth_redirect"]
    jsonschema.validate(yaml.safe_load(render_manifest(http)), _slack_schema())
    chosen = Settings(
        slack_client_id="1.2",
        slack_client_secret="s",
        slack_scopes=("commands",),
        slack_redirect_uri="https://bot.example.test/slack/oauth_redirect",
    )
    assert build_manifest(chosen, http_base_url="https://example.test")["oauth_config"][
        "redirect_urls"
    ] == ["https://bot.example.test/slack/oauth_redirect"]


def test_the_rendered_yaml_reads_back_as_the_manifest_data():
    for base in (None, "https://example.test"):
        data = build_manifest(Settings(), http_base_url=base)
        assert yaml.safe_load(render_manifest(data)) == data


@pytest.mark.parametrize("base", ["example.test", "http://example.test", "https://"])
def test_manifest_refuses_a_base_url_slack_would_not_take(base):
    """Slack sends requests only to HTTPS URLs: an http:// one would be refused at paste time."""
    result = _run_manifest_command("--http", base)
    assert result.returncode == 2 and "https://HOST" in result.stderr
    assert result.stdout == ""


def test_the_oauth_manifest_needs_no_secret_to_print():
    """A manifest is printed before the app is installed anywhere: OAuth mode's token key and
    organisations are for serving, not for the manifest."""
    result = _run_manifest_command(
        "--http",
        "https://example.test",
        SLACK_CLIENT_ID="1.2",
        SLACK_CLIENT_SECRET="s",
        SLACK_SCOPES="commands",
    )
    assert result.returncode == 0, result.stderr
    assert "https://example.test/slack/oauth_redirect" in result.stdout


def test_manifest_declares_exactly_the_commands_the_app_handles(manifest):
    declared = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert declared == set(ids.COMMANDS)


def test_manifest_requests_exactly_the_scopes_with_a_reason(manifest):
    assert manifest["oauth_config"]["scopes"]["bot"] == list(BOT_SCOPES)
    assert all(reason.strip() for reason in BOT_SCOPES.values())


def test_every_web_api_method_the_code_calls_is_covered_by_a_scope(manifest):
    method_scopes = {
        "users_info": "users:read",
        "usergroups_list": "usergroups:read",
        "usergroups_users_list": "usergroups:read",
        "auth_test": None,
        "chat_postMessage": "chat:write",
        "chat_postEphemeral": "chat:write",
        "conversations_open": "im:write",
        "conversations_info": "channels:read",
        "conversations_members": "channels:read",
        "chat_unfurl": "links:write",
        "views_open": None,
        "views_update": None,
        "views_push": None,
        "views_publish": None,
        # A refused OAuth install is undone with the app's client id and secret: no bot scope.
        "apps_uninstall": None,
        # Not a Web API method: the Socket Mode websocket's acknowledgement, authorised by the
        # app-level token (connections:write), not by a bot scope.
        "send_socket_mode_response": None,
    }
    called = _called_methods()
    unknown = called - set(method_scopes)
    assert not unknown, f"Web API methods without a scope entry here: {unknown}"
    requested = set(manifest["oauth_config"]["scopes"]["bot"])
    needed = {method_scopes[method] for method in called} - {None}
    assert needed <= requested, (
        f"scopes the code needs but the manifest lacks: {needed - requested}"
    )


def test_manifest_declares_the_shortcuts_and_events_the_app_handles(manifest):
    declared = {s["callback_id"] for s in manifest["features"]["shortcuts"]}
    assert declared == set(ids.SHORTCUTS)
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert events == set(ids.BOT_EVENTS)
    assert "customers.gitlab.com" in manifest["features"]["unfurl_domains"]


def test_interactivity_is_on_for_buttons(manifest):
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["features"]["bot_user"]["display_name"] == "CustomersDot"


# Least privilege, the reverse direction: each requested scope is needed by a method the code
# calls, an event the app subscribes to, or a feature (scopes no method name implies).
SCOPES_BY_METHOD = {
    "users_info": {"users:read"},
    "usergroups_list": {"usergroups:read"},
    "usergroups_users_list": {"usergroups:read"},
    "chat_postMessage": {"chat:write"},
    "chat_postEphemeral": {"chat:write"},
    "conversations_open": {"im:write"},
    # Which of these conversations.info needs depends on the conversation's type.
    "conversations_info": {"channels:read", "groups:read", "im:read", "mpim:read"},
    "conversations_members": {"channels:read", "groups:read", "im:read", "mpim:read"},
    "chat_unfurl": {"links:write"},
}
SCOPES_BY_EVENT = {"link_shared": {"links:read"}}


def _called_methods() -> set[str]:
    called: set[str] = set()
    for path in [*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("handlers").rglob("*.py")]:
        # A call, or a method handed on to be called (functools.partial(client.method, ...)).
        source = path.read_text()
        called |= set(re.findall(r"client\.([A-Za-z_]+)\(", source))
        called |= set(re.findall(r"partial\(\s*client\.([A-Za-z_]+)", source))
    return called


def test_every_requested_scope_is_needed_by_a_method_an_event_or_a_feature(manifest):
    identity_source = (ROOT / "bot" / "slack" / "identity.py").read_text()
    features = {
        # Slash commands need `commands`; no Web API method implies it.
        "commands": bool(manifest["features"].get("slash_commands")),
        # users.info returns profile.email only with this scope; the allowlist matches on it.
        "users:read.email": '"email"' in identity_source and "users_info" in _called_methods(),
    }
    needed = {scope for method in _called_methods() for scope in SCOPES_BY_METHOD.get(method, ())}
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        needed |= SCOPES_BY_EVENT.get(event, set())
    needed |= {scope for scope, used in features.items() if used}
    requested = set(manifest["oauth_config"]["scopes"]["bot"])
    assert requested - needed == set(), f"scopes requested but not needed: {requested - needed}"
