"""The allowlist middleware in a real Bolt app: signed requests, the Slack stand-in, no slack.com."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pytest
from slack_bolt import App, BoltContext
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient
from slack_sdk.models.blocks import SectionBlock
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.access import AccessDecision
from bot.config import Settings
from bot.organisations import OrganisationAllowlist
from bot.slack.actor import actor_of, identify_actor
from bot.slack.allowlist import (
    Actor,
    RefusalBuilder,
    allowlist_middleware,
    local_operator_middleware,
    refusal_text,
)
from bot.slack.identity import AccessResolver, IdentityResolver, LocalOperatorResolver
from bot.store.audit import AuditEntry, record_audit
from bot.store.models import AuditEvent
from tests.helpers.slack_requests import (
    block_actions_payload,
    block_suggestion_payload,
    bolt_request,
    event_body,
    interaction_body,
    message_action_payload,
    shortcut_payload,
    slash_command_body,
    view_submission_payload,
)
from tests.helpers.slack_standin import SlackStandIn

SECRET = "permissions-test-secret"
TEAM = "T0TEAM"
ACCESS_URL = "https://access.example.test/request"
SHARE_ACTION = "license_share"
PICK_ACTION = "customer_pick"
SHORTCUT = "post_license_card"
MODAL = "post_license_modal"


class FakeClock:
    def __init__(self) -> None:
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    app: App
    standin: SlackStandIn
    clock: FakeClock
    handled: list[str] = field(default_factory=list)
    access_seen: list[AccessDecision | None] = field(default_factory=list)
    audits: list[AuditEntry] = field(default_factory=list)

    def dispatch(self, body: str) -> BoltResponse:
        return self.app.dispatch(bolt_request(body, SECRET))

    def command(self, user_id: str, text: str = "acme", command: str = "/license") -> BoltResponse:
        return self.dispatch(
            slash_command_body(
                command,
                text,
                user_id=user_id,
                team_id=TEAM,
                response_url=self.standin.response_url("command"),
            )
        )


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn(team_id=TEAM) as running:
        running.add_user("UALLOWED", email="ae@acme.io")
        running.add_user("UOUTSIDER", email="eve@elsewhere.io")
        running.add_user("UGUEST", email="guest@acme.io", is_restricted=True)
        yield running


def build_harness(
    standin: SlackStandIn,
    *,
    settings: Settings | None = None,
    audit: Callable[[AuditEntry], None] | None = None,
    resolver: AccessResolver | None = None,
    refusal_builder: RefusalBuilder | None = None,
    local_operator: bool = False,
    organisations: OrganisationAllowlist | None = None,
) -> Harness:
    clock = FakeClock()
    client = WebClient(token="xoxb-test", base_url=standin.api_url)
    app = App(
        client=client,
        signing_secret=SECRET,
        token_verification_enabled=False,
        process_before_response=True,
    )
    harness = Harness(app=app, standin=standin, clock=clock)
    settings = settings or Settings(
        allowed_email_domains=frozenset({"acme.io"}), identity_cache_seconds=300
    )
    chosen = resolver or IdentityResolver(client, settings, clock=clock)
    if local_operator:
        app.use(local_operator_middleware())
    else:
        app.use(
            allowlist_middleware(
                lambda _context: chosen,
                audit=audit or harness.audits.append,
                access_request_url=ACCESS_URL,
                refusal_builder=refusal_builder,
                organisations=organisations,
            )
        )

    def seen(name: str, context: BoltContext) -> None:
        harness.handled.append(name)
        harness.access_seen.append(context.get("access"))

    @app.command("/license")
    def license_command(ack: Any, command: dict[str, Any], context: BoltContext) -> None:
        seen("/license", context)
        ack(text=f"card for {command['text']}", response_type="ephemeral")

    @app.action(SHARE_ACTION)
    def share(ack: Any, context: BoltContext) -> None:
        seen(SHARE_ACTION, context)
        ack()

    @app.options(PICK_ACTION)
    def pick_options(ack: Any, context: BoltContext) -> None:
        seen(PICK_ACTION, context)
        ack(options=[{"text": {"type": "plain_text", "text": "Acme"}, "value": "acme"}])

    @app.view(MODAL)
    def submitted(ack: Any, context: BoltContext) -> None:
        seen(MODAL, context)
        ack()

    @app.shortcut(SHORTCUT)
    def shortcut(ack: Any, context: BoltContext) -> None:
        seen(SHORTCUT, context)
        ack()

    @app.event("app_home_opened")
    def home(context: BoltContext) -> None:
        seen("app_home_opened", context)

    @app.event("app_uninstalled")
    def uninstalled(context: BoltContext) -> None:
        seen("app_uninstalled", context)

    @app.event("tokens_revoked")
    def revoked(context: BoltContext) -> None:
        seen("tokens_revoked", context)

    return harness


@pytest.fixture
def harness(standin: SlackStandIn) -> Harness:
    return build_harness(standin)


# ---- allowed ----------------------------------------------------------------------------------


def test_allowed_user_reaches_the_handler_with_the_decision_in_context(harness: Harness) -> None:
    response = harness.command("UALLOWED", "acme")
    assert response.status == 200
    assert json.loads(response.body) == {"text": "card for acme", "response_type": "ephemeral"}
    assert harness.handled == ["/license"]
    assert harness.access_seen == [
        AccessDecision(allowed=True, reason=None, email="ae@acme.io", rule="email_domain")
    ]
    assert harness.audits == []


@pytest.mark.parametrize(
    ("payload", "handler"),
    [
        (block_actions_payload(SHARE_ACTION, user_id="UALLOWED"), SHARE_ACTION),
        (block_suggestion_payload(PICK_ACTION, "ac", user_id="UALLOWED"), PICK_ACTION),
        (view_submission_payload(MODAL, user_id="UALLOWED"), MODAL),
        (shortcut_payload(SHORTCUT, user_id="UALLOWED"), SHORTCUT),
        (message_action_payload(SHORTCUT, user_id="UALLOWED"), SHORTCUT),
    ],
)
def test_allowed_user_reaches_every_kind_of_interaction_handler(
    harness: Harness, payload: dict[str, Any], handler: str
) -> None:
    assert harness.dispatch(interaction_body(payload)).status == 200
    assert harness.handled == [handler]


def test_allowed_user_reaches_event_handlers(harness: Harness) -> None:
    harness.dispatch(event_body({"type": "app_home_opened", "user": "UALLOWED", "tab": "home"}))
    assert harness.handled == ["app_home_opened"]


# ---- refused ----------------------------------------------------------------------------------


def test_refused_command_gets_an_ephemeral_refusal_and_no_handler(harness: Harness) -> None:
    response = harness.command("UOUTSIDER", "acme")
    body = json.loads(response.body)
    assert body["response_type"] == "ephemeral"
    assert body["text"] == refusal_text("not_listed", ACCESS_URL)
    assert ACCESS_URL in body["text"]
    assert "acme" not in body["text"]  # nothing about the customer asked for
    assert harness.handled == []
    assert harness.audits == [
        AuditEntry(
            surface="/license",
            outcome="denied",
            user_id="UOUTSIDER",
            team_id=TEAM,
            channel_id="C0SALES",
            query="acme",
            reason="not_listed",
        )
    ]


def test_refused_button_click_is_acked_and_answered_ephemerally_without_replacing(
    harness: Harness,
) -> None:
    payload = block_actions_payload(
        SHARE_ACTION, user_id="UOUTSIDER", response_url=harness.standin.response_url("actions")
    )
    response = harness.dispatch(interaction_body(payload))
    assert (response.status, response.body) == (200, "")
    (posted,) = harness.standin.responses_to("actions")
    assert posted["response_type"] == "ephemeral"
    assert posted["replace_original"] is False
    assert posted["text"] == refusal_text("not_listed", ACCESS_URL)
    assert harness.handled == []
    assert [(a.surface, a.reason, a.query) for a in harness.audits] == [
        (SHARE_ACTION, "not_listed", None)
    ]


def test_refused_suggestion_gets_no_options(harness: Harness) -> None:
    payload = block_suggestion_payload(PICK_ACTION, "ac", user_id="UOUTSIDER")
    response = harness.dispatch(interaction_body(payload))
    assert json.loads(response.body) == {"options": []}
    assert harness.handled == []
    assert harness.audits[0].surface == PICK_ACTION


def test_refused_modal_submission_is_replaced_by_a_refusal_modal(harness: Harness) -> None:
    response = harness.dispatch(interaction_body(view_submission_payload(MODAL, user_id="UGUEST")))
    body = json.loads(response.body)
    assert body["response_action"] == "update"
    assert body["view"]["type"] == "modal"
    assert body["view"]["blocks"][0]["text"]["text"] == refusal_text("guest", ACCESS_URL)
    assert harness.handled == []
    assert [(a.surface, a.reason) for a in harness.audits] == [(MODAL, "guest")]


@pytest.mark.parametrize(
    "payload",
    [
        shortcut_payload(SHORTCUT, user_id="UOUTSIDER"),
        message_action_payload(SHORTCUT, user_id="UOUTSIDER"),
    ],
)
def test_refused_shortcut_is_only_acked(harness: Harness, payload: dict[str, Any]) -> None:
    response = harness.dispatch(interaction_body(payload))
    assert (response.status, response.body) == (200, "")
    assert harness.handled == []
    assert harness.standin.response_posts == []
    assert [(a.surface, a.reason) for a in harness.audits] == [(SHORTCUT, "not_listed")]


def test_refused_event_is_only_acked(harness: Harness) -> None:
    event = {"type": "link_shared", "user": "UGUEST", "channel": "C0SALES", "links": []}
    response = harness.dispatch(event_body(event))
    assert (response.status, response.body) == (200, "")
    assert harness.handled == []
    assert [(a.surface, a.reason) for a in harness.audits] == [("link_shared", "guest")]


def test_refused_app_home_opened_reaches_its_listener_with_the_refusal(harness: Harness) -> None:
    """The Home tab is the one place a refused user can be told how to ask for access."""
    response = harness.dispatch(event_body({"type": "app_home_opened", "user": "UGUEST"}))
    assert (response.status, response.body) == (200, "")
    assert harness.handled == ["app_home_opened"]
    [access] = harness.access_seen
    assert (access.allowed, access.reason) == (False, "guest")
    assert [(a.surface, a.reason) for a in harness.audits] == [("app_home_opened", "guest")]


def test_event_without_a_user_is_refused(harness: Harness) -> None:
    harness.dispatch(event_body({"type": "app_home_opened", "tab": "home"}))
    assert harness.handled == []
    assert [(a.surface, a.user_id, a.reason) for a in harness.audits] == [
        ("app_home_opened", None, "no_user")
    ]
    assert harness.standin.call_count("users.info") == 0


@pytest.mark.parametrize("event_type", ["app_uninstalled", "tokens_revoked"])
def test_lifecycle_events_pass_without_a_user(harness: Harness, event_type: str) -> None:
    event: dict[str, Any] = {"type": event_type}
    if event_type == "tokens_revoked":
        event["tokens"] = {"bot": ["UBOT"]}
    harness.dispatch(event_body(event))
    assert harness.handled == [event_type]
    assert harness.access_seen == [None]
    assert harness.audits == []


def test_slack_connect_visitor_is_external_even_when_the_payload_names_their_team(
    harness: Harness,
) -> None:
    # A partner's user clicks a button on our card in a shared channel: the payload names the
    # partner's workspace, but the allowlist belongs to the workspace the app is installed in.
    harness.standin.add_user("UPARTNER", email="bob@acme.io", team_id="T0PARTNER")
    payload = block_actions_payload(
        SHARE_ACTION,
        user_id="UPARTNER",
        team_id="T0PARTNER",
        response_url=harness.standin.response_url("actions"),
    )
    harness.dispatch(interaction_body(payload))
    assert harness.handled == []
    assert harness.audits[0].reason == "external"


@dataclass(frozen=True)
class Card:
    text: str
    blocks: list[SectionBlock]


def build_test_refusal(access_request_url: str | None, reason: str) -> Card:
    return Card(
        text=f"no entry ({reason})",
        blocks=[SectionBlock(text=f"no entry ({reason}) {access_request_url}")],
    )


def test_card_builder_plugs_into_the_refusal(standin: SlackStandIn) -> None:
    harness = build_harness(standin, refusal_builder=build_test_refusal)
    body = json.loads(harness.command("UOUTSIDER").body)
    assert body["blocks"][0]["text"]["text"] == f"no entry (not_listed) {ACCESS_URL}"
    assert body["text"] == "no entry (not_listed)"

    payload = view_submission_payload(MODAL, user_id="UGUEST")
    view = json.loads(harness.dispatch(interaction_body(payload)).body)["view"]
    assert view["blocks"][0]["text"]["text"] == f"no entry (guest) {ACCESS_URL}"


def test_a_broken_card_builder_still_refuses_in_plain_text(standin: SlackStandIn) -> None:
    def broken(access_request_url: str | None, reason: str) -> Card:
        raise KeyError(reason)

    harness = build_harness(standin, refusal_builder=broken)
    body = json.loads(harness.command("UOUTSIDER").body)
    assert body["text"] == refusal_text("not_listed", ACCESS_URL)
    assert harness.handled == []


def test_the_real_refusal_card_fits(standin: SlackStandIn) -> None:
    from bot.views.notices import build_refusal

    harness = build_harness(standin, refusal_builder=build_refusal)
    body = json.loads(harness.command("UOUTSIDER").body)
    assert body["response_type"] == "ephemeral"
    assert body["blocks"]
    assert harness.handled == []


def test_a_resolver_object_and_a_session_factory_can_be_given_directly(
    standin: SlackStandIn, session_factory: sessionmaker[Session], session: Session
) -> None:
    client = WebClient(token="xoxb-test", base_url=standin.api_url)
    app = App(
        client=client,
        signing_secret=SECRET,
        token_verification_enabled=False,
        process_before_response=True,
    )
    resolver = IdentityResolver(client, Settings(allowed_user_ids=frozenset({"UALLOWED"})))
    app.use(allowlist_middleware(resolver, session_factory=session_factory))
    handled: list[str] = []

    @app.command("/recon")
    def recon(ack: Any) -> None:
        handled.append("/recon")
        ack()

    for user_id in ("UALLOWED", "UOUTSIDER"):
        body = slash_command_body("/recon", "acme", user_id=user_id, team_id=TEAM)
        app.dispatch(bolt_request(body, SECRET))
    assert handled == ["/recon"]
    rows = session.scalars(select(AuditEvent)).all()
    assert [(r.user_id, r.surface, r.outcome, r.reason) for r in rows] == [
        ("UOUTSIDER", "/recon", "denied", "not_listed")
    ]


def test_session_factory_and_audit_are_exclusive() -> None:
    with pytest.raises(ValueError, match="not both"):
        allowlist_middleware(
            LocalOperatorResolver(),
            session_factory=sessionmaker(),
            audit=lambda entry: None,
        )


# ---- the cache, TTL, failures -----------------------------------------------------------------


def test_second_command_costs_no_users_info_call(harness: Harness) -> None:
    harness.command("UALLOWED")
    harness.command("UALLOWED", "globex")
    assert harness.handled == ["/license", "/license"]
    assert harness.standin.call_count("users.info") == 1


def test_ttl_expiry_checks_again(harness: Harness) -> None:
    harness.command("UALLOWED")
    harness.standin.add_user("UALLOWED", email="ae@acme.io", deleted=True)
    harness.clock.now += 299
    harness.command("UALLOWED")
    assert harness.handled == ["/license", "/license"]
    harness.clock.now += 1
    harness.command("UALLOWED")
    assert harness.handled == ["/license", "/license"]
    assert harness.audits[-1].reason == "deactivated"
    assert harness.standin.call_count("users.info") == 2


def test_user_removed_from_group_loses_access_after_the_ttl(standin: SlackStandIn) -> None:
    standin.add_usergroup("S0SALES", "sales", ["UOUTSIDER"])
    harness = build_harness(
        standin,
        settings=Settings(allowed_usergroups=frozenset({"sales"}), identity_cache_seconds=60),
    )
    harness.command("UOUTSIDER")
    assert harness.access_seen[-1] is not None
    assert harness.access_seen[-1].rule == "usergroup:sales"

    standin.set_usergroup_members("S0SALES", [])
    harness.clock.now += 30
    harness.command("UOUTSIDER")
    assert len(harness.handled) == 2  # still within the TTL
    harness.clock.now += 30
    response = harness.command("UOUTSIDER")
    assert len(harness.handled) == 2
    assert json.loads(response.body)["text"] == refusal_text("not_listed", ACCESS_URL)


def test_users_info_failure_refuses_with_identity_unavailable(harness: Harness) -> None:
    harness.standin.fail("users.info", "server_error")
    body = json.loads(harness.command("UALLOWED").body)
    assert body["text"] == refusal_text("identity_unavailable", ACCESS_URL)
    assert harness.audits[0].reason == "identity_unavailable"
    assert harness.handled == []
    harness.command("UALLOWED")  # not cached: Slack is asked again and answers
    assert harness.handled == ["/license"]


def test_a_resolver_that_raises_refuses(standin: SlackStandIn) -> None:
    class Broken:
        def decide(
            self, user_id: str, team_id: str | None, enterprise_id: str | None = None
        ) -> AccessDecision:
            raise RuntimeError("bug")

    harness = build_harness(standin, resolver=Broken())
    harness.command("UALLOWED")
    assert harness.handled == []
    assert harness.audits[0].reason == "identity_unavailable"


def test_a_failing_audit_does_not_turn_a_refusal_into_access(standin: SlackStandIn) -> None:
    def broken_audit(entry: AuditEntry) -> None:
        raise RuntimeError("store down")

    harness = build_harness(standin, audit=broken_audit)
    body = json.loads(harness.command("UOUTSIDER").body)
    assert body["response_type"] == "ephemeral"
    assert harness.handled == []


def test_local_operator_needs_no_slack(standin: SlackStandIn) -> None:
    harness = build_harness(standin, local_operator=True)
    harness.command("UANYONE")
    assert harness.handled == ["/license"]
    assert harness.access_seen[0] is not None
    assert harness.access_seen[0].rule == "local_operator"
    assert standin.call_count("users.info") == 0


# ---- audit rows in the store ------------------------------------------------------------------


def test_refusals_are_written_to_the_audit_table(
    standin: SlackStandIn, session_factory: sessionmaker[Session], session: Session
) -> None:
    harness = build_harness(standin, audit=lambda entry: record_audit(session_factory, entry))
    harness.command("UOUTSIDER", "initech")
    harness.command("UALLOWED", "acme")  # allowed: the handler audits lookups, not the gate
    rows = session.scalars(select(AuditEvent)).all()
    assert [(r.user_id, r.surface, r.outcome, r.reason, r.query) for r in rows] == [
        ("UOUTSIDER", "/license", "denied", "not_listed", "initech")
    ]


# ---- reading the actor ------------------------------------------------------------------------


def test_identify_actor_on_enterprise_grid() -> None:
    payload = block_actions_payload(SHARE_ACTION, user_id="U1", enterprise_id="E0ACME")
    payload["user"]["team_id"] = "E0ACME"  # Grid reports the organisation here
    assert identify_actor(payload) == Actor(
        kind="block_actions",
        surface=SHARE_ACTION,
        user_id="U1",
        team_id=TEAM,
        enterprise_id="E0ACME",
        channel_id="C0SALES",
    )
    command = dict(parse_qsl(slash_command_body("/recon", "", enterprise_id="E0ACME")))
    assert identify_actor(command).enterprise_id == "E0ACME"


# ---- whose team and enterprise decide: the installation's, never the body's -------------------


def test_a_visitor_from_another_grid_organisation_in_a_workspace_not_on_grid_is_external(
    harness: Harness,
) -> None:
    # The workspace the bot is installed in (auth.test: T0TEAM) is not on Enterprise Grid; a
    # Slack Connect visitor from organisation E0PARTNER, with an allowed email domain, sends a
    # request whose body names their organisation.
    harness.standin.add_user(
        "UVISITOR", email="visitor@acme.io", team_id="T0PARTNER", enterprise_id="E0PARTNER"
    )
    harness.dispatch(
        slash_command_body(
            "/license",
            "initech",
            user_id="UVISITOR",
            team_id=TEAM,
            enterprise_id="E0PARTNER",
            response_url=harness.standin.response_url("command"),
        )
    )
    assert harness.handled == []
    assert [(a.user_id, a.reason) for a in harness.audits] == [("UVISITOR", "external")]


def test_the_requests_one_actor_is_in_the_context_with_the_installations_ids(
    harness: Harness,
) -> None:
    seen: list[Actor] = []

    @harness.app.action("whoami")
    def whoami(ack: Any, context: BoltContext) -> None:
        ack()
        seen.append(actor_of(context))

    # The body names another workspace and organisation; the installation is T0TEAM, no Grid.
    payload = block_actions_payload(
        "whoami", user_id="UALLOWED", team_id="T0ELSEWHERE", enterprise_id="E0ELSEWHERE"
    )
    harness.dispatch(interaction_body(payload))
    assert seen == [
        Actor(
            user_id="UALLOWED",
            team_id=TEAM,
            enterprise_id=None,
            channel_id="C0SALES",
            kind="block_actions",
            surface="whoami",
        )
    ]
    # The users.info answer decided against the installation's team, not the body's.
    assert harness.standin.call_count("users.info") == 1


def test_a_workspace_outside_the_listed_organisations_is_refused_before_anything_else(
    standin: SlackStandIn,
) -> None:
    # Single-workspace mode with ALLOWED_TEAM_IDS set: enforced too.
    settings = Settings(
        allowed_email_domains=frozenset({"acme.io"}), allowed_team_ids=frozenset({"T0OTHER"})
    )
    harness = build_harness(standin, settings=settings, organisations=settings.organisations)
    response = harness.command("UALLOWED")
    assert harness.handled == []
    assert [(a.user_id, a.team_id, a.reason) for a in harness.audits] == [
        ("UALLOWED", TEAM, "outside_organisation")
    ]
    assert standin.calls_to("users.info") == []
    assert "isn't available in this workspace" in str(response.body)
