"""manifest.yml is valid for Slack and agrees with the code (commands, scopes)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from bot import ids

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_CANDIDATES = [
    ROOT.parent / "shared" / "slack" / "manifest.schema.1.0.0.json",
    ROOT / "tests" / "data" / "manifest.schema.1.0.0.json",
]

# Every scope the manifest requests, and why the code needs it.
SCOPE_REASONS = {
    "commands": "/license and /recon",
    "users:read": "users.info in bot/slack/identity.py",
    "users:read.email": "users.info profile.email for ALLOWED_EMAILS / ALLOWED_EMAIL_DOMAINS",
    "usergroups:read": "usergroups.list and usergroups.users.list in bot/slack/identity.py",
    "chat:write": "chat.postMessage into a deal thread and the requester's DM",
    "im:write": "conversations.open for the requester's DM",
    "channels:read": "conversations.info: refuse externally shared channels",
    "groups:read": "conversations.info on private channels",
    "im:read": "conversations.info on direct messages",
    "mpim:read": "conversations.info on group direct messages",
    "links:read": "link_shared events",
    "links:write": "chat.unfurl",
}


@pytest.fixture(scope="module")
def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def test_manifest_is_valid_against_slacks_schema(manifest):
    schema_path = next((p for p in SCHEMA_CANDIDATES if p.exists()), None)
    assert schema_path is not None, "Slack's manifest schema is missing"
    schema = json.loads(schema_path.read_text())
    jsonschema.validate(manifest, schema)


def test_manifest_declares_exactly_the_commands_the_app_handles(manifest):
    declared = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert declared == set(ids.COMMANDS)


def test_manifest_requests_exactly_the_scopes_with_a_reason(manifest):
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == set(SCOPE_REASONS)


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
    "chat_unfurl": {"links:write"},
}
SCOPES_BY_EVENT = {"link_shared": {"links:read"}}


def _called_methods() -> set[str]:
    called: set[str] = set()
    for path in [*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("handlers").rglob("*.py")]:
        called |= set(re.findall(r"client\.([A-Za-z_]+)\(", path.read_text()))
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
