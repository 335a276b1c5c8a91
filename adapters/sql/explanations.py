"""Why each event a sync saw is or is not an appointment (R36): kept, purged, looked up.

A sync page writes the reasons of the events it kept out and deletes those of every other
event it saw, in the page's transaction (``record_explanations``). A synced event's answer
comes from its link, so nothing is stored for it. Rows of events that left the window, or
that a full sync of the window no longer lists, are purged as the window moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from adapters.sql.tables import calendar_connections, event_explanations, event_links, users
from adapters.sql.upsert import dialect_insert
from domain.eligibility import SyncWindow
from domain.explanations import Explanation, KeptOut, explain_kept_out, explain_link
from domain.sync_plan import EventPlan
from domain.timing import utc_range

_x = event_explanations.c
_l = event_links.c
_c = calendar_connections.c
#: All-day events are stored as UTC midnights (the store has no zone at hand); a purge
#: leaves this much room on either side, the largest offset from UTC, so it never drops
#: the row of an all-day event that is still inside the window in the user's zone.
ZONE_SLACK = timedelta(hours=14)


class NoSuchUser(LookupError):
    """The account has no user with that id (or the account does not exist)."""


def record_explanations(
    conn: sa.Connection, connection_id: str, plans: Sequence[EventPlan], now: datetime
) -> None:
    """Keep the reason of every event the page kept out, forget it for every other one.

    The last plan of an event id decides, as it is the one the page's writes follow.
    """
    last = {plan.event.event_id: plan for plan in plans}
    kept = [plan for plan in last.values() if plan.kept_out is not None]
    others = sorted(event_id for event_id, plan in last.items() if plan.kept_out is None)
    if others:
        conn.execute(
            event_explanations.delete().where(
                _x.connection_id == connection_id, _x.event_id.in_(others)
            )
        )
    if kept:
        stmt = dialect_insert(conn, event_explanations)
        stmt = stmt.on_conflict_do_update(
            index_elements=[_x.connection_id, _x.event_id],
            set_={name: stmt.excluded[name] for name in _UPDATED},
        )
        conn.execute(stmt, [_row(connection_id, plan, now) for plan in kept])


_UPDATED = ("rule", "reason", "seen_at", "event_start", "event_end")


def _row(connection_id: str, plan: EventPlan, now: datetime) -> dict[str, Any]:
    why = plan.kept_out
    assert why is not None  # only kept-out plans are stored
    timing = plan.event.timing
    start, end = utc_range(timing, "UTC") if timing is not None else (None, None)
    return {
        "connection_id": connection_id,
        "event_id": plan.event.event_id,
        "rule": why.rule,
        "reason": why.reason[:500],
        "seen_at": now,
        "event_start": start,
        "event_end": end,
    }


def purge_before_window(conn: sa.Connection, connection_id: str, window: SyncWindow) -> int:
    """Forget events that ended before the window starts: no sync will see them again."""
    result = conn.execute(
        event_explanations.delete().where(
            _x.connection_id == connection_id, _x.event_end < window.start - ZONE_SLACK
        )
    )
    return result.rowcount or 0


def purge_unseen_in_window(
    conn: sa.Connection, connection_id: str, window: SyncWindow, since: datetime
) -> int:
    """After a full sync of ``window`` that started at ``since``: forget the events inside
    it that the sync did not list, which the calendar no longer has there."""
    inside = sa.or_(
        _x.event_start.is_(None),
        sa.and_(_x.event_start < window.end - ZONE_SLACK, _x.event_end > window.start + ZONE_SLACK),
    )
    result = conn.execute(
        event_explanations.delete().where(
            _x.connection_id == connection_id, _x.seen_at < since, inside
        )
    )
    return result.rowcount or 0


class SqlExplanations:
    """What the last sync that saw an event made of it, for the read API and the CLI."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def explain(self, account_id: str, user_id: str, event_id: str) -> Explanation | None:
        """The newest answer among the user's calendars; None if no sync saw the event.

        Raises:
            NoSuchUser: the account has no such user.
        """
        calendars = sa.select(_c.id).where(_c.account_id == account_id, _c.user_id == user_id)
        with self._engine.connect() as conn:
            if not _user_exists(conn, account_id, user_id):
                raise NoSuchUser(f"no user {user_id!r}")
            link = conn.execute(
                sa.select(_l.appointment_id, _l.gone, _l.updated_at)
                .where(_l.connection_id.in_(calendars), _l.event_id == event_id)
                .order_by(_l.updated_at.desc())
                .limit(1)
            ).first()
            row = conn.execute(
                sa.select(_x.rule, _x.reason, _x.seen_at)
                .where(_x.connection_id.in_(calendars), _x.event_id == event_id)
                .order_by(_x.seen_at.desc())
                .limit(1)
            ).first()
        answers = []
        if link is not None:
            answers.append(
                explain_link(event_id, link.appointment_id, gone=link.gone, seen_at=link.updated_at)
            )
        if row is not None:
            answers.append(explain_kept_out(event_id, KeptOut(row.rule, row.reason), row.seen_at))
        return max(answers, key=lambda answer: answer.seen_at, default=None)


def _user_exists(conn: sa.Connection, account_id: str, user_id: str) -> bool:
    query = sa.select(users.c.id).where(users.c.account_id == account_id, users.c.id == user_id)
    return conn.execute(query).first() is not None
