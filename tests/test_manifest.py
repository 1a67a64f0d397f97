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
    "users:read": "users.info in bot/identity.py",
    "users:read.email": "users.info profile.email for ALLOWED_EMAILS / ALLOWED_EMAIL_DOMAINS",
    "usergroups:read": "usergroups.list and usergroups.users.list in bot/identity.py",
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


def test_every_web_api_method_the_code_calls_is_covered_by_a_scope():
    method_scopes = {
        "users_info": "users:read",
        "usergroups_list": "usergroups:read",
        "usergroups_users_list": "usergroups:read",
        "auth_test": None,
    }
    called = set()
    for path in [*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("handlers").rglob("*.py")]:
        called |= set(re.findall(r"client\.([a-z_]+)\(", path.read_text()))
    unknown = called - set(method_scopes)
    assert not unknown, f"Web API methods without a scope entry here: {unknown}"


def test_interactivity_is_on_for_buttons(manifest):
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["features"]["bot_user"]["display_name"] == "CustomersDot"
