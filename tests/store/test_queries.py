from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.licensing import customer_standing
from bot.records import CustomerStanding, Standing
from bot.search import company_search_key
from bot.store.models import Host, ImportRun, License, Reconciliation
from bot.store.queries import (
    IMPORT_KINDS,
    customer_choices,
    data_times,
    latest_import_at,
    load_customer_licenses,
    load_customer_reconciliations,
)
from tests.helpers.sql_capture import captured_statements
from tests.helpers.store_rows import add_customer

TODAY = date(2026, 6, 15)


def at(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def add_license(
    session: Session,
    license_id: int,
    customer_key: str,
    *,
    starts: date | None = date(2026, 1, 1),
    expires: date | None = date(2027, 1, 1),
    trial: bool = False,
    plan: str = "premium",
    user_count: int | None = 50,
    subscription_id: str | None = None,
) -> None:
    session.add(
        License(
            id=license_id,
            customer_key=customer_key,
            company="Acme Corp",
            contact_name="Jane Doe",
            contact_email="jane@acme.io",
            contact_email_key="jane@acme.io",
            contact_email_domain="acme.io",
            plan=plan,
            user_count=user_count,
            trial=trial,
            license_type="cloud",
            issued_at=at(2025, 12, 20),
            starts_at=starts,
            expires_at=expires,
            zuora_subscription_id=subscription_id,
        )
    )


def add_reconciliation(
    session: Session,
    reconciliation_id: int,
    *,
    customer_name: str,
    subscription_id: str | None,
    reconcile_on: date | None,
    customer_key: str | None = None,
) -> None:
    session.add(
        Reconciliation(
            id=reconciliation_id,
            customer_key=customer_key,
            customer_name=customer_name,
            customer_search_key=company_search_key(customer_name),
            zuora_subscription_id=subscription_id,
            subscription_name="A-S00000001",
            status="processed",
            reconcile_on=reconcile_on,
            reconcile_done_at=at(2026, 5, 2) if reconcile_on else None,
            invoiced_amount_minor=123456,
            currency="USD",
        )
    )


def add_import(
    session: Session, kind: str, finished_at: datetime, source_time: datetime | None = None
) -> None:
    session.add(
        ImportRun(
            kind=kind,
            file=f"{kind}.csv",
            rows=1,
            finished_at=finished_at,
            source_time=source_time,
        )
    )


@contextmanager
def counting_statements(engine: Engine) -> Iterator[list[str]]:
    # SQLite's engine issues its own BEGIN (bot/store/db.py): a transaction, not a query.
    with captured_statements(engine, lambda statement: statement != "BEGIN") as statements:
        yield statements


# --- latest_import_at -----------------------------------------------------------------------


def test_latest_import_at_by_kind_and_overall(session: Session) -> None:
    assert latest_import_at(session) is None
    add_import(session, "licenses", at(2026, 6, 1))
    add_import(session, "licenses", at(2026, 6, 3))
    add_import(session, "reconciliations", at(2026, 6, 5))
    session.commit()
    assert latest_import_at(session, "licenses") == at(2026, 6, 3)
    assert latest_import_at(session, "reconciliations") == at(2026, 6, 5)
    assert latest_import_at(session, "hosts") is None
    newest = latest_import_at(session)
    assert newest == at(2026, 6, 5)
    assert newest is not None and newest.tzinfo is not None


def test_data_times_are_each_kinds_latest_import_source_time_else_its_finish(
    session: Session,
) -> None:
    assert data_times(session) == dict.fromkeys(IMPORT_KINDS)
    # Synced: the export's own time, however much later it was imported.
    add_import(session, "licenses", at(2026, 6, 1), source_time=at(2026, 5, 20))
    add_import(session, "licenses", at(2026, 6, 3, 6), source_time=at(2026, 6, 2, 22))
    # Imported by hand after a sync: its finish is all that is known, and it is the latest.
    add_import(session, "hosts", at(2026, 6, 2), source_time=at(2026, 6, 1))
    add_import(session, "hosts", at(2026, 6, 4))
    # Two imports finishing in the same instant: the later one (by id) is the latest.
    add_import(session, "reconciliations", at(2026, 6, 5), source_time=at(2026, 6, 4, 1))
    session.flush()
    add_import(session, "reconciliations", at(2026, 6, 5), source_time=at(2026, 6, 4, 2))
    session.commit()
    found = data_times(session)
    assert found == {
        "licenses": at(2026, 6, 2, 22),
        "subscriptions": None,
        "hosts": at(2026, 6, 4),
        "reconciliations": at(2026, 6, 4, 2),
    }
    assert all(value is None or value.tzinfo is not None for value in found.values())


# --- load_customer_licenses -----------------------------------------------------------------


def test_unknown_customer_has_no_licenses(session: Session) -> None:
    assert load_customer_licenses(session, "sf:NOPE", today=TODAY) is None


def test_customer_licenses_with_overview_hosts_and_data_times(session: Session) -> None:
    add_customer(session, "sf:ACME", "Acme Corp")
    add_customer(session, "sf:OTHER", "Other")
    add_license(session, 1, "sf:ACME", starts=date(2025, 1, 1), expires=date(2026, 1, 1))
    add_license(session, 2, "sf:ACME", plan="ultimate", user_count=200)
    add_license(session, 3, "sf:ACME", trial=True, plan="ultimate")
    add_license(session, 9, "sf:OTHER")
    session.add_all(
        [
            Host(hostname="old.acme.io", license_id=2, last_ping_at=at(2026, 1, 1)),
            Host(hostname="new.acme.io", license_id=2, last_ping_at=at(2026, 6, 1)),
            Host(hostname="never.acme.io", license_id=2, last_ping_at=None),
            Host(hostname="legacy.acme.io", license_id=1, gitlab_version="16.0.0"),
            Host(hostname="gitlab.other.io", license_id=9),
            Host(hostname="orphan.example", license_id=None),
        ]
    )
    add_import(session, "licenses", at(2026, 6, 14, 6))
    add_import(session, "reconciliations", at(2026, 6, 15, 6))  # not the license card's
    add_import(session, "subscriptions", at(2026, 6, 14, 7), source_time=at(2026, 6, 13))
    session.commit()

    found = load_customer_licenses(session, "sf:ACME", today=TODAY)

    assert found is not None
    assert (found.customer.key, found.customer.name) == ("sf:ACME", "Acme Corp")
    assert found.today == TODAY
    assert found.data_times == {
        "licenses": at(2026, 6, 14, 6),
        "subscriptions": at(2026, 6, 13),
        "hosts": None,
    }
    lead = found.overview.lead
    assert lead is not None
    assert (lead.license.id, lead.standing, lead.license.plan) == (2, Standing.ACTIVE, "ultimate")
    assert lead.license.issued_at == at(2025, 12, 20)
    assert lead.license.contact_email == "jane@acme.io"
    assert [(r.license.id, r.standing) for r in found.overview.others] == [(1, Standing.EXPIRED)]
    assert [r.license.id for r in found.overview.trials] == [3]
    assert {key: [h.hostname for h in hosts] for key, hosts in found.hosts_by_license.items()} == {
        2: ["new.acme.io", "old.acme.io", "never.acme.io"],
        1: ["legacy.acme.io"],
    }
    assert found.hosts_by_license[1][0].gitlab_version == "16.0.0"


def test_customer_without_licenses_still_loads(session: Session) -> None:
    add_customer(session, "name:lonely", "Lonely")
    session.commit()
    found = load_customer_licenses(session, "name:lonely", today=TODAY)
    assert found is not None
    assert found.overview.lead is None and found.overview.license_count == 0
    assert found.hosts_by_license == {}
    assert set(found.data_times.values()) == {None}


def test_license_lookup_runs_the_same_few_statements_however_many_licenses(
    session: Session, engine: Engine
) -> None:
    add_customer(session, "sf:SMALL", "Small")
    add_customer(session, "sf:BIG", "Big")
    add_license(session, 1, "sf:SMALL")
    session.add(Host(hostname="small.example", license_id=1))
    for license_id in range(100, 140):
        add_license(session, license_id, "sf:BIG")
        session.add(Host(hostname=f"h{license_id}.big.example", license_id=license_id))
    session.commit()
    session.expunge_all()

    with counting_statements(engine) as small:
        load_customer_licenses(session, "sf:SMALL", today=TODAY)
    session.expunge_all()
    with counting_statements(engine) as big:
        found = load_customer_licenses(session, "sf:BIG", today=TODAY)

    assert found is not None and len(found.hosts_by_license) == 40
    assert len(big) == len(small) <= 4


# --- load_customer_reconciliations ----------------------------------------------------------


def test_reconciliations_of_a_customer_newest_first(session: Session) -> None:
    # Which customer a reconciliation belongs to is the customer rule's, kept by every import
    # (tests/store/test_customer_rule.py); the card reads what it assigned.
    add_customer(session, "sf:ACME", "ACME Corp")
    add_customer(session, "sf:GLOBEX", "Globex")
    add_license(session, 1, "sf:ACME", subscription_id="a" * 32)
    add_license(session, 2, "sf:GLOBEX", subscription_id="b" * 32)
    acme = {"customer_key": "sf:ACME"}
    add_reconciliation(
        session,
        10,
        customer_name="Acme Holdings",
        subscription_id="a" * 32,
        reconcile_on=date(2026, 3, 1),
        **acme,
    )
    add_reconciliation(
        session,
        11,
        customer_name="Acme Corp.",
        subscription_id="c" * 32,
        reconcile_on=date(2026, 5, 1),
        **acme,
    )
    add_reconciliation(
        session, 12, customer_name="Acme Corp", subscription_id=None, reconcile_on=None, **acme
    )
    add_reconciliation(
        session,
        13,
        customer_name="Acme Corp",
        subscription_id=None,
        reconcile_on=date(2026, 5, 1),
        **acme,
    )
    add_reconciliation(
        session,
        14,
        customer_name="Acme Corp",
        subscription_id="b" * 32,
        reconcile_on=date(2026, 6, 1),
        customer_key="sf:GLOBEX",
    )
    add_reconciliation(
        session, 15, customer_name="Nobody", subscription_id=None, reconcile_on=date(2026, 6, 1)
    )
    add_import(session, "reconciliations", at(2026, 6, 10))
    add_import(session, "licenses", at(2026, 6, 12))
    session.commit()

    acme = load_customer_reconciliations(session, "sf:ACME")
    globex = load_customer_reconciliations(session, "sf:GLOBEX")

    assert acme is not None and globex is not None
    assert acme.customer.name == "ACME Corp"
    # Newest first: reconcile_on descending, undated last, then id descending.
    assert [r.id for r in acme.reconciliations] == [13, 11, 10, 12]
    assert [r.id for r in globex.reconciliations] == [14]
    assert acme.data_times == {"reconciliations": at(2026, 6, 10)}
    first = acme.reconciliations[0]
    assert (first.invoiced_amount_minor, first.currency, first.status) == (
        123456,
        "USD",
        "processed",
    )
    assert first.reconcile_done_at == at(2026, 5, 2)


def test_unknown_customer_has_no_reconciliations(session: Session) -> None:
    assert load_customer_reconciliations(session, "sf:NOPE") is None


def test_reconciliation_lookup_statement_count_is_constant(
    session: Session, engine: Engine
) -> None:
    add_customer(session, "sf:ACME", "Acme")
    for license_id in range(1, 21):
        add_license(session, license_id, "sf:ACME", subscription_id=f"{license_id:032x}")
        add_reconciliation(
            session,
            license_id,
            customer_name="Acme",
            subscription_id=f"{license_id:032x}",
            reconcile_on=date(2026, 1, license_id),
            customer_key="sf:ACME",
        )
    session.commit()
    session.expunge_all()
    with counting_statements(engine) as statements:
        found = load_customer_reconciliations(session, "sf:ACME")
    assert found is not None and len(found.reconciliations) == 20
    assert len(statements) <= 3


# --- customer_choices -----------------------------------------------------------------------


def test_customer_choices_in_the_order_asked(session: Session, engine: Engine) -> None:
    add_customer(session, "sf:ACME", "Acme Corp")
    add_customer(session, "sf:LAPSED", "Lapsed Ltd")
    add_customer(session, "sf:TRIALS", "Trials Only")
    add_license(session, 1, "sf:ACME", starts=date(2024, 1, 1), expires=date(2025, 1, 1))
    add_license(session, 2, "sf:ACME", plan="ultimate", user_count=250)
    add_license(session, 3, "sf:LAPSED", starts=date(2024, 1, 1), expires=date(2025, 1, 1))
    add_license(session, 4, "sf:TRIALS", trial=True)
    add_license(session, 5, "sf:TRIALS", trial=True)
    session.commit()
    session.expunge_all()

    with counting_statements(engine) as statements:
        choices = customer_choices(
            session, ["sf:TRIALS", "sf:NOPE", "sf:ACME", "sf:LAPSED"], today=TODAY
        )

    assert [(c.key, c.name, c.license_count) for c in choices] == [
        ("sf:TRIALS", "Trials Only", 2),
        ("sf:ACME", "Acme Corp", 2),
        ("sf:LAPSED", "Lapsed Ltd", 1),
    ]
    plans = {c.key: (c.active_plan, c.active_user_count) for c in choices}
    assert plans == {
        "sf:TRIALS": (None, None),  # a trial is not the active license
        "sf:ACME": ("ultimate", 250),
        "sf:LAPSED": (None, None),  # expired: nothing active
    }
    assert len(statements) == 2
    assert customer_choices(session, [], today=TODAY) == []


def test_pick_lists_judge_active_licenses_by_the_injected_clock(session: Session) -> None:
    """The pick list and the card it leads to read one clock: the lookup service's.

    The fixed day is a year before the real one, when Acme East's license was still running:
    a pick list that read the wall clock would show it expired (no active plan)."""
    from bot.answers.audited import Requester
    from bot.answers.lookups import LookupService
    from bot.config import Settings
    from bot.links import Links

    fixed_now = datetime(2025, 6, 15, 9, 0, tzinfo=UTC)
    assert fixed_now.date() != datetime.now(UTC).date()
    add_customer(session, "sf:EAST", "Acme East")
    add_customer(session, "sf:WEST", "Acme West")
    add_license(
        session, 1, "sf:EAST", plan="ultimate", starts=date(2025, 1, 1), expires=date(2026, 1, 1)
    )
    add_license(session, 2, "sf:WEST", starts=date(2024, 1, 1), expires=date(2025, 1, 1))
    session.commit()
    factory = sessionmaker(bind=session.get_bind())
    lookups = LookupService(
        factory, Links.from_settings(Settings()), clock=lambda: fixed_now, rate_limit_per_hour=0
    )
    requester = Requester("UALICE", "T1", channel_id="C1")

    choices = {c.key: c for c in lookups.customer_choices_for("acme", requester)}
    assert (choices["sf:EAST"].active_plan, choices["sf:EAST"].active_user_count) == (
        "ultimate",
        50,
    )
    assert choices["sf:WEST"].active_plan is None

    with captured_statements(session.get_bind()) as statements:
        selection = lookups.customer_selection("sf:EAST", requester)
    assert selection is not None and selection.choice.active_plan == "ultimate"
    # The pick-list line is built from the licenses loaded for the selection, not a re-read:
    # one statement reads license rows (a column only those select).
    license_reads = [sql for sql in statements if "license.trueup_quantity" in sql]
    assert len(license_reads) == 1, license_reads


def test_a_pick_list_line_stands_where_the_card_does(session: Session) -> None:
    add_customer(session, "sf:GRACE", "Grace Ltd")
    add_customer(session, "sf:ACME", "Acme Corp")
    add_customer(session, "sf:TRIALS", "Trials Only")
    add_customer(session, "sf:NONE", "Nothing Yet")
    # Expired 5 days before TODAY: in grace, and nothing else active.
    add_license(session, 1, "sf:GRACE", starts=date(2025, 6, 10), expires=date(2026, 6, 10))
    add_license(session, 2, "sf:ACME")
    add_license(session, 3, "sf:TRIALS", trial=True)
    session.commit()
    keys = ["sf:GRACE", "sf:ACME", "sf:TRIALS", "sf:NONE"]

    choices = customer_choices(session, keys, today=TODAY)

    assert [c.standing for c in choices] == [
        CustomerStanding.IN_GRACE,
        CustomerStanding.ACTIVE,
        CustomerStanding.TRIAL_ONLY,
        CustomerStanding.NONE,
    ]
    for choice in choices:
        card = load_customer_licenses(session, choice.key, today=TODAY)
        assert card is not None
        assert customer_standing(card.overview) is choice.standing
