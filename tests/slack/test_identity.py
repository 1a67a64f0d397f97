"""IdentityResolver against the Slack stand-in: who is allowed, who is refused, and the cache."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.access import AccessDecision
from bot.config import Settings
from bot.slack.identity import LOCAL_OPERATOR_ACCESS, IdentityResolver, LocalOperatorResolver
from tests.helpers.slack_standin import SlackStandIn

TEAM = "T0TEAM"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn(team_id=TEAM) as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_resolver(
    standin: SlackStandIn, clock: FakeClock | None = None, **allowlist: Any
) -> IdentityResolver:
    settings = Settings(
        allowed_user_ids=frozenset(allowlist.pop("user_ids", ())),
        allowed_emails=frozenset(allowlist.pop("emails", ())),
        allowed_email_domains=frozenset(allowlist.pop("domains", ())),
        allowed_usergroups=frozenset(allowlist.pop("groups", ())),
        identity_cache_seconds=allowlist.pop("ttl", 300),
        allowed_team_ids=frozenset(allowlist.pop("team_ids", ())),
        allowed_enterprise_ids=frozenset(allowlist.pop("enterprise_ids", ())),
    )
    client = WebClient(token="xoxb-test", base_url=standin.api_url)
    return IdentityResolver(
        client,
        settings,
        clock=clock or FakeClock(),
        max_entries=allowlist.pop("max_entries", 100),
        owner_client=allowlist.pop("owner_client", None),
    )


# ---- who is allowed ---------------------------------------------------------------------------


def test_allowed_by_user_id(standin: SlackStandIn) -> None:
    standin.add_user("U1", email="jane@acme.io")
    decision = make_resolver(standin, user_ids={"U1"}).decide("U1", TEAM)
    assert decision == AccessDecision(True, None, "jane@acme.io", "user_id")


def test_allowed_by_email_ignoring_case(standin: SlackStandIn) -> None:
    standin.add_user("U1", email="Jane.Doe@Acme.io")
    decision = make_resolver(standin, emails={"JANE.DOE@acme.IO"}).decide("U1", TEAM)
    assert (decision.allowed, decision.rule, decision.email) == (True, "email", "jane.doe@acme.io")


def test_allowed_by_exact_email_domain_only(standin: SlackStandIn) -> None:
    standin.add_user("U1", email="jane@gitlab.com")
    standin.add_user("U2", email="mallory@evil-gitlab.com")
    standin.add_user("U3", email="bob@eu.gitlab.com")
    resolver = make_resolver(standin, domains={"@GitLab.com"})
    assert resolver.decide("U1", TEAM).rule == "email_domain"
    assert resolver.decide("U2", TEAM).reason == "not_listed"
    assert resolver.decide("U3", TEAM).reason == "not_listed"


def test_allowed_by_usergroup_handle_and_by_id(standin: SlackStandIn) -> None:
    standin.add_user("U1", email="a@acme.io")
    standin.add_user("U2", email="b@acme.io")
    standin.add_user("U3", email="c@acme.io")
    standin.add_usergroup("S0SALES", "sales", ["U1"])
    standin.add_usergroup("S0DESK", "deal-desk", ["U2"])
    resolver = make_resolver(standin, groups={"sales", "S0DESK"})

    assert resolver.decide("U1", TEAM).rule == "usergroup:sales"
    assert resolver.decide("U2", TEAM).rule == "usergroup:S0DESK"
    assert resolver.decide("U3", TEAM).reason == "not_listed"
    # Handles resolved once; membership read once per group; no membership lists in bulk.
    assert standin.call_count("usergroups.list") == 1
    assert standin.calls_to("usergroups.list")[0].params["include_users"] == "0"
    assert sorted(c.params["usergroup"] for c in standin.calls_to("usergroups.users.list")) == [
        "S0DESK",
        "S0SALES",
    ]


def test_usergroups_are_not_consulted_when_the_user_is_listed_otherwise(
    standin: SlackStandIn,
) -> None:
    standin.add_user("U1", email="jane@acme.io")
    standin.add_usergroup("S0SALES", "sales", [])
    resolver = make_resolver(standin, domains={"acme.io"}, groups={"sales"})
    assert resolver.decide("U1", TEAM).allowed
    assert standin.call_count("usergroups.list") == 0
    assert standin.call_count("usergroups.users.list") == 0


def test_group_ids_need_no_usergroups_list(standin: SlackStandIn) -> None:
    standin.add_user("U1")
    standin.add_usergroup("S0SALES", "sales", ["U1"])
    assert make_resolver(standin, groups={"S0SALES"}).decide("U1", TEAM).allowed
    assert standin.call_count("usergroups.list") == 0


def test_unknown_group_handle_admits_nobody(standin: SlackStandIn) -> None:
    standin.add_user("U1")
    decision = make_resolver(standin, groups={"no-such-group"}).decide("U1", TEAM)
    assert decision.reason == "not_listed"


def test_same_enterprise_colleague_from_another_workspace_is_allowed(
    standin: SlackStandIn,
) -> None:
    standin.add_user("U1", email="jane@acme.io", team_id="T0OTHER", enterprise_id="E0ACME")
    decision = make_resolver(standin, user_ids={"U1"}).decide("U1", TEAM, "E0ACME")
    assert decision.allowed


def test_email_rules_count_only_for_users_of_an_allowed_organisation(
    standin: SlackStandIn,
) -> None:
    # The app serves workspace T0TEAM of Grid organisation E0ACME, not the whole organisation:
    # the admins of T0OTHER (same organisation, not listed) set their members' emails.
    standin.add_user("UHOME", email="jane@acme.io", team_id=TEAM, enterprise_id="E0ACME")
    standin.add_user("UOTHER", email="eve@acme.io", team_id="T0OTHER", enterprise_id="E0ACME")
    for rule in ({"domains": {"acme.io"}}, {"emails": {"jane@acme.io", "eve@acme.io"}}):
        resolver = make_resolver(standin, team_ids={TEAM}, **rule)
        assert resolver.decide("UHOME", TEAM, "E0ACME").allowed
        refused = resolver.decide("UOTHER", TEAM, "E0ACME")
        assert (refused.allowed, refused.reason) == (False, "not_listed")
        # Listing the organisation makes its members' emails count.
        whole_org = make_resolver(standin, team_ids={TEAM}, enterprise_ids={"E0ACME"}, **rule)
        assert whole_org.decide("UOTHER", TEAM, "E0ACME").allowed
    # Grid may report the organisation as a member's team_id; their workspaces then decide.
    standin.add_user(
        "UORGLEVEL",
        email="org@acme.io",
        team_id="E0ACME",
        enterprise_user={"id": "UORGLEVEL", "enterprise_id": "E0ACME", "teams": [TEAM]},
    )
    resolver = make_resolver(standin, team_ids={TEAM}, domains={"acme.io"})
    assert resolver.decide("UORGLEVEL", TEAM, "E0ACME").allowed
    # Without ALLOWED_TEAM_IDS / ALLOWED_ENTERPRISE_IDS (single workspace) nothing changes.
    assert make_resolver(standin, domains={"acme.io"}).decide("UOTHER", TEAM, "E0ACME").allowed


def test_in_oauth_mode_a_group_is_read_only_through_its_owners_client(
    standin: SlackStandIn,
) -> None:
    standin.add_user("U1", email="a@acme.io")
    standin.add_usergroup("S0SALES", "sales", ["U1"])
    owner = WebClient(token="xoxb-owner", base_url=standin.api_url)
    asked: list[str] = []

    def owner_client(owner_id: str) -> WebClient | None:
        asked.append(owner_id)
        return owner if owner_id == "T0OWNER" else None

    resolver = make_resolver(
        standin, groups={"T0OWNER:S0SALES", "sales", "S0SALES"}, owner_client=owner_client
    )
    assert resolver.decide("U1", TEAM).rule == "usergroup:T0OWNER:S0SALES"
    # A handle or a bare id is never read with the requesting workspace's client.
    [read] = standin.calls_to("usergroups.users.list")
    assert read.token == "xoxb-owner"
    assert standin.calls_to("usergroups.list") == []
    assert asked == ["T0OWNER"]
    # A group whose workspace is not an allowed installation admits nobody.
    other = make_resolver(standin, groups={"T0ELSE:S0SALES"}, owner_client=owner_client)
    assert other.decide("U1", TEAM).reason == "not_listed"
    assert standin.call_count("usergroups.users.list") == 1


def test_local_operator_is_allowed_without_slack(standin: SlackStandIn) -> None:
    assert LocalOperatorResolver().decide("UANY", None) == LOCAL_OPERATOR_ACCESS
    assert LOCAL_OPERATOR_ACCESS.rule == "local_operator"
    assert standin.calls == []


# ---- who is refused ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("account", "reason"),
    [
        ({"deleted": True}, "deactivated"),
        ({"is_restricted": True}, "guest"),
        ({"is_ultra_restricted": True}, "guest"),
        ({"is_bot": True}, "bot"),
        ({"team_id": "T0PARTNER"}, "external"),
        ({"is_stranger": True}, "external"),
        ({"team_id": "T0PARTNER", "enterprise_id": "E0PARTNER"}, "external"),
    ],
)
def test_listed_accounts_that_may_never_look_anything_up(
    standin: SlackStandIn, account: dict[str, Any], reason: str
) -> None:
    standin.add_user("U1", email="jane@acme.io", **account)
    resolver = make_resolver(standin, user_ids={"U1"}, emails={"jane@acme.io"})
    decision = resolver.decide("U1", TEAM, "E0ACME")
    assert (decision.allowed, decision.reason, decision.rule) == (False, reason, None)


def test_user_without_email_and_not_listed_by_id(standin: SlackStandIn) -> None:
    standin.add_user("U1")
    assert make_resolver(standin, domains={"acme.io"}).decide("U1", TEAM).reason == "not_listed"


def test_unknown_user(standin: SlackStandIn) -> None:
    assert make_resolver(standin, user_ids={"U1"}).decide("U1", TEAM).reason == "unknown_user"


def test_request_without_a_team_cannot_prove_membership(standin: SlackStandIn) -> None:
    standin.add_user("U1")
    assert make_resolver(standin, user_ids={"U1"}).decide("U1", None).reason == "external"


def test_empty_allowlist_refuses_everyone_without_asking_slack(standin: SlackStandIn) -> None:
    standin.add_user("U1", email="jane@acme.io")
    decision = make_resolver(standin).decide("U1", TEAM)
    assert (decision.allowed, decision.reason) == (False, "not_listed")
    assert standin.calls == []


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("server_error", ""),
        ("rate_limited", ""),
        ("error", "ratelimited"),
        ("error", "fatal_error"),
    ],
)
def test_slack_failure_refuses_and_is_not_cached(
    standin: SlackStandIn, kind: str, error: str
) -> None:
    standin.add_user("U1")
    resolver = make_resolver(standin, user_ids={"U1"})
    standin.fail("users.info", kind, error=error or "internal_error", retry_after=0)  # type: ignore[arg-type]
    assert resolver.decide("U1", TEAM) == AccessDecision(False, "identity_unavailable")
    # The very next request asks Slack again, and succeeds.
    assert resolver.decide("U1", TEAM).allowed
    assert standin.call_count("users.info") == 2


def test_unreachable_slack_refuses(standin: SlackStandIn) -> None:
    url = standin.api_url
    standin.stop()
    client = WebClient(token="xoxb-test", base_url=url, timeout=2)
    resolver = IdentityResolver(client, Settings(allowed_user_ids=frozenset({"U1"})))
    assert resolver.decide("U1", TEAM).reason == "identity_unavailable"


def test_usergroup_failure_refuses_unless_another_rule_admits(standin: SlackStandIn) -> None:
    standin.add_user("U1")
    standin.add_usergroup("S0SALES", "sales", ["U1"])
    resolver = make_resolver(standin, groups={"sales"})
    standin.fail("usergroups.users.list", "server_error")
    assert resolver.decide("U1", TEAM).reason == "identity_unavailable"
    assert resolver.decide("U1", TEAM).rule == "usergroup:sales"

    standin.fail("usergroups.list", "error", error="missing_scope")
    other = make_resolver(standin, groups={"sales"})
    assert other.decide("U1", TEAM).reason == "identity_unavailable"


def test_usergroup_failure_does_not_hide_a_membership_found_elsewhere(
    standin: SlackStandIn,
) -> None:
    standin.add_user("U1")
    standin.add_usergroup("S0DESK", "desk", ["U1"])
    resolver = make_resolver(standin, groups={"S0DESK", "S0GONE"})
    # S0GONE does not exist (an answer, not an outage); S0DESK admits the user.
    assert resolver.decide("U1", TEAM).rule == "usergroup:S0DESK"


# ---- the cache --------------------------------------------------------------------------------


def test_second_lookup_costs_no_slack_call_until_the_ttl_expires(
    standin: SlackStandIn, clock: FakeClock
) -> None:
    standin.add_user("U1", email="jane@acme.io")
    resolver = make_resolver(standin, clock, emails={"jane@acme.io"}, ttl=300)
    assert resolver.decide("U1", TEAM).allowed
    clock.advance(299)
    assert resolver.decide("U1", TEAM).allowed
    assert standin.call_count("users.info") == 1

    standin.add_user("U1", email="jane@acme.io", deleted=True)
    clock.advance(1)
    assert resolver.decide("U1", TEAM).reason == "deactivated"
    assert standin.call_count("users.info") == 2


def test_refusals_are_cached_too(standin: SlackStandIn, clock: FakeClock) -> None:
    standin.add_user("U1", email="eve@elsewhere.io")
    resolver = make_resolver(standin, clock, domains={"acme.io"})
    assert resolver.decide("U1", TEAM).reason == "not_listed"
    assert resolver.decide("U1", TEAM).reason == "not_listed"
    assert standin.call_count("users.info") == 1


def test_user_removed_from_group_loses_access_within_one_ttl(
    standin: SlackStandIn, clock: FakeClock
) -> None:
    standin.add_user("U1")
    standin.add_user("U2")
    standin.add_usergroup("S0SALES", "sales", ["U1", "U2"])
    resolver = make_resolver(standin, clock, groups={"sales"}, ttl=300)
    assert resolver.decide("U1", TEAM).allowed  # reads the membership at t=0

    clock.advance(250)
    standin.set_usergroup_members("S0SALES", ["U1"])  # U2 removed at t=250
    # U2's first decision reuses the membership read at t=0 ...
    assert resolver.decide("U2", TEAM).allowed
    # ... but cannot outlive it: at t=300 both expire together.
    clock.advance(50)
    assert resolver.decide("U2", TEAM).reason == "not_listed"
    assert resolver.decide("U1", TEAM).allowed


def test_cache_is_keyed_by_team(standin: SlackStandIn) -> None:
    standin.add_user("U1")
    resolver = make_resolver(standin, user_ids={"U1"})
    assert resolver.decide("U1", TEAM).allowed
    assert resolver.decide("U1", "T0PARTNER").reason == "external"


def test_zero_ttl_asks_slack_every_time(standin: SlackStandIn) -> None:
    standin.add_user("U1")
    resolver = make_resolver(standin, user_ids={"U1"}, ttl=0)
    resolver.decide("U1", TEAM)
    resolver.decide("U1", TEAM)
    assert standin.call_count("users.info") == 2


def test_cache_is_bounded_least_recently_used_first(standin: SlackStandIn) -> None:
    for user_id in ("U1", "U2", "U3"):
        standin.add_user(user_id)
    resolver = make_resolver(standin, user_ids={"U1", "U2", "U3"}, max_entries=2)
    resolver.decide("U1", TEAM)
    resolver.decide("U2", TEAM)
    resolver.decide("U1", TEAM)  # U1 is now the most recently used
    resolver.decide("U3", TEAM)  # evicts U2
    standin.clear()
    resolver.decide("U1", TEAM)
    resolver.decide("U3", TEAM)
    assert standin.call_count("users.info") == 0
    resolver.decide("U2", TEAM)
    assert [c.params["user"] for c in standin.calls_to("users.info")] == ["U2"]


def test_forget_drops_cached_decisions(standin: SlackStandIn) -> None:
    standin.add_user("U1")
    resolver = make_resolver(standin, user_ids={"U1"})
    resolver.decide("U1", TEAM)
    resolver.forget()
    resolver.decide("U1", TEAM)
    assert standin.call_count("users.info") == 2


def test_concurrent_decisions_agree(standin: SlackStandIn) -> None:
    user_ids = [f"U{n}" for n in range(20)]
    for user_id in user_ids:
        standin.add_user(user_id, email=f"{user_id.lower()}@acme.io")
    standin.add_user("UEVE", email="eve@elsewhere.io")
    resolver = make_resolver(standin, domains={"acme.io"}, max_entries=8)
    results: list[tuple[str, bool]] = []
    lock = threading.Lock()

    def work(offset: int) -> None:
        for i in range(40):
            user_id = [*user_ids, "UEVE"][(offset + i) % (len(user_ids) + 1)]
            decision = resolver.decide(user_id, TEAM)
            with lock:
                results.append((user_id, decision.allowed))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 * 40
    assert all(allowed == (user_id != "UEVE") for user_id, allowed in results)
