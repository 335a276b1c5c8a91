"""Migrations build exactly the declared schema on both stores; hot lookups probe an index."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from adapters.sql.tables import contact_emails, event_links, metadata, push_channels, user_emails
from infra import db


def test_migrations_match_the_declared_schema(store: sa.Engine) -> None:
    with store.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_upgrade_twice_is_harmless(store: sa.Engine) -> None:
    db.upgrade(store)
    db.upgrade(store)
    head = ScriptDirectory.from_config(db.alembic_config(store)).get_current_head()
    assert head is not None
    assert db.current_revision(store) == head


LOOKUPS = {
    "user by e-mail": sa.select(user_emails.c.user_id).where(
        user_emails.c.account_id == "a", user_emails.c.email == "karl@exempel.se"
    ),
    "colleague domain": sa.select(user_emails.c.domain).where(
        user_emails.c.account_id == "a", user_emails.c.domain == "exempel.se"
    ),
    "contact by e-mail": sa.select(contact_emails.c.contact_id).where(
        contact_emails.c.account_id == "a", contact_emails.c.email == "eva@kund.se"
    ),
    "event by id": sa.select(event_links.c.appointment_id).where(
        event_links.c.connection_id == "c", event_links.c.event_id == "e1"
    ),
    "meeting by iCalUID": sa.select(event_links.c.appointment_id).where(
        event_links.c.account_id == "a", event_links.c.ical_uid == "uid@example"
    ),
    "push channel by id": sa.select(push_channels.c.connection_id).where(
        push_channels.c.id == "channel-1"
    ),
}


@pytest.mark.parametrize("name", LOOKUPS)
def test_hot_lookup_is_a_single_index_probe(store: sa.Engine, name: str) -> None:
    query = LOOKUPS[name]
    with store.connect() as conn:
        compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
        if conn.dialect.name == "postgresql":
            # Empty tables make a sequential scan cheapest; forbid it to see the index exists.
            conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(r[0] for r in conn.execute(sa.text(f"EXPLAIN {compiled}")))
            assert "Index" in plan, plan
            assert "Seq Scan" not in plan, plan
        else:
            plan = " ".join(r[-1] for r in conn.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}")))
            assert plan.startswith("SEARCH"), plan
            assert "INDEX" in plan or "PRIMARY KEY" in plan, plan


def test_0010_copies_each_contacts_company_and_state_to_its_addresses(tmp_path: Path) -> None:
    # Given a store at 0009 holding a contact with two addresses
    engine = sa.create_engine(f"sqlite:///{tmp_path}/old.sqlite3")
    db.upgrade(engine, "0009")
    stamp = "2026-01-02 03:04:05.000000"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO accounts (id, name, created_at, updated_at) VALUES ('a', 'A', :t, :t)"
            ),
            {"t": stamp},
        )
        conn.execute(
            sa.text(
                "INSERT INTO contacts (account_id, id, name, company_id, active, created_at,"
                " updated_at) VALUES ('a', 'eva', 'Eva', 'kund', false, :t, :t)"
            ),
            {"t": stamp},
        )
        for email in ("eva@kund.se", "eva@home.example"):
            conn.execute(
                sa.text(
                    "INSERT INTO contact_emails (account_id, email, contact_id)"
                    " VALUES ('a', :e, 'eva')"
                ),
                {"e": email},
            )

    # When it is upgraded
    db.upgrade(engine)

    # Then every address carries the contact's company, state and time of last change
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                contact_emails.c.email,
                contact_emails.c.company_id,
                contact_emails.c.active,
                contact_emails.c.contact_updated_at,
            ).order_by(contact_emails.c.email)
        ).all()
    assert [(r.email, r.company_id, r.active) for r in rows] == [
        ("eva@home.example", "kund", False),
        ("eva@kund.se", "kund", False),
    ]
    assert all(r.contact_updated_at.year == 2026 for r in rows)
    engine.dispose()
