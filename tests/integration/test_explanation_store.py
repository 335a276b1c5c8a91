"""The explanations table stays bounded (R36): replaced on change, purged as the window moves."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from adapters.crypto import TokenCipher
from adapters.directory_file import parse_directory
from adapters.sql.connections import SqlConnections
from adapters.sql.directory import SqlDirectory
from adapters.sql.explanations import (
    SqlExplanations,
    purge_before_window,
    purge_unseen_in_window,
    record_explanations,
)
from adapters.sql.tables import event_explanations
from domain.eligibility import sync_window
from domain.explanations import KeptOut
from domain.model import EventVersion, Provider, ProviderEvent, Timed
from domain.sync_plan import EventPlan, PlanKind
from tests.factories import article_directory

CONNECTED = datetime(2026, 11, 23, 8, tzinfo=UTC)
WINDOW = sync_window(date(2026, 11, 23), "Europe/Stockholm", date(2026, 12, 1))
R7 = KeptOut("R7", "no participant besides the owner")
R9 = KeptOut("R9", "outside the sync window")


def _connection(store: sa.Engine) -> str:
    SqlDirectory(store).load(parse_directory(article_directory()))
    connections = SqlConnections(store, TokenCipher("test-key"))
    return connections.connect("exempel", "karl", "google", "{}", now=CONNECTED).id


def _kept(event_id: str, start: datetime, why: KeptOut | None) -> EventPlan:
    event = ProviderEvent(
        Provider.GOOGLE,
        event_id,
        None,
        EventVersion(CONNECTED),
        timing=Timed(start, start + timedelta(hours=1)),
    )
    return EventPlan(PlanKind.SKIP, event, reason="test", kept_out=why)


def _record(store: sa.Engine, connection_id: str, plans: list[EventPlan], now: datetime) -> None:
    with store.begin() as conn:
        record_explanations(conn, connection_id, plans, now)


def _rows(store: sa.Engine) -> dict[str, str | None]:
    with store.connect() as conn:
        rows = conn.execute(sa.select(event_explanations.c.event_id, event_explanations.c.rule))
        return {row.event_id: row.rule for row in rows}


def test_one_row_per_event_replaced_when_a_later_sync_sees_it_again(store: sa.Engine) -> None:
    connection_id = _connection(store)
    inside = WINDOW.start + timedelta(days=3)
    _record(store, connection_id, [_kept("e1", inside, R7)], CONNECTED)

    later = CONNECTED + timedelta(days=1)
    _record(store, connection_id, [_kept("e1", inside, R9), _kept("e1", inside, R7)], later)

    assert _rows(store) == {"e1": "R7"}
    found = SqlExplanations(store).explain("exempel", "karl", "e1")
    assert found is not None
    assert found.seen_at == later


def test_a_plan_without_a_reason_forgets_the_event(store: sa.Engine) -> None:
    connection_id = _connection(store)
    inside = WINDOW.start + timedelta(days=3)
    _record(store, connection_id, [_kept("e1", inside, R7), _kept("e2", inside, R7)], CONNECTED)

    _record(store, connection_id, [_kept("e1", inside, None)], CONNECTED)

    assert _rows(store) == {"e2": "R7"}


def test_the_window_moving_drops_events_that_ended_before_it(store: sa.Engine) -> None:
    connection_id = _connection(store)
    before = WINDOW.start - timedelta(days=2)
    after = WINDOW.end + timedelta(days=2)
    _record(
        store,
        connection_id,
        [_kept("old", before, R9), _kept("ahead", after, R9), _kept("in", WINDOW.start, R7)],
        CONNECTED,
    )

    with store.begin() as conn:
        assert purge_before_window(conn, connection_id, WINDOW) == 1

    assert _rows(store) == {"ahead": "R9", "in": "R7"}


def test_a_full_sync_forgets_events_of_its_window_it_did_not_list(store: sa.Engine) -> None:
    connection_id = _connection(store)
    inside = WINDOW.start + timedelta(days=3)
    after = WINDOW.end + timedelta(days=2)
    _record(
        store,
        connection_id,
        [_kept("deleted", inside, R7), _kept("ahead", after, R9), _kept("listed", inside, R7)],
        CONNECTED,
    )
    started = CONNECTED + timedelta(days=1)
    _record(store, connection_id, [_kept("listed", inside, R7)], started)

    with store.begin() as conn:
        assert purge_unseen_in_window(conn, connection_id, WINDOW, started) == 1

    assert _rows(store) == {"ahead": "R9", "listed": "R7"}
