"""What the live calendar reads need from the store: working hours, and who is connected."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

import sqlalchemy as sa

from adapters.sql.tables import calendar_connections, users
from domain.availability import WorkingHours

_u = users.c
_c = calendar_connections.c


class StoredWorkingHoursError(ValueError):
    """A user's stored working hours are not in the form the store uses."""


@dataclass(frozen=True)
class AccountConnection:
    """One calendar connection of an account, as chosen for account-wide reads."""

    id: str
    user_id: str
    provider: str
    status: str


class SqlCalendarUsers:
    """Read-only queries for ``GET /users/{id}/availability`` and ``GET /rooms``."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def working_hours(self, account_id: str, user_id: str) -> WorkingHours | None:
        """The user's working hours in their zone, or None when the account has no such user.

        Raises:
            StoredWorkingHoursError: the stored days or times are malformed.
        """
        query = sa.select(_u.work_days, _u.work_start, _u.work_end, _u.time_zone).where(
            _u.account_id == account_id, _u.id == user_id
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return parse_working_hours(row.work_days, row.work_start, row.work_end, row.time_zone)

    def connections(self, account_id: str) -> list[AccountConnection]:
        """Every calendar connection of the account, active ones first, then oldest first."""
        active_first = sa.case((_c.status == "active", 0), else_=1)
        query = (
            sa.select(_c.id, _c.user_id, _c.provider, _c.status)
            .where(_c.account_id == account_id)
            .order_by(active_first, _c.connected_at, _c.user_id)
        )
        with self._engine.connect() as conn:
            return [AccountConnection(**row) for row in conn.execute(query).mappings()]


def parse_working_hours(days: str, start: str, end: str, time_zone: str) -> WorkingHours:
    """Working hours from the stored columns: ``"0,1,2,3,4"`` (0 is Monday), ``"09:00"``.

    Raises:
        StoredWorkingHoursError: malformed days or times, or a day that ends before it starts.
    """
    try:
        numbers = frozenset(int(part) for part in days.split(",") if part.strip())
        return WorkingHours(
            days=numbers,
            start=time.fromisoformat(start.strip()),
            end=time.fromisoformat(end.strip()),
            time_zone=time_zone,
        )
    except ValueError as error:
        raise StoredWorkingHoursError(
            f"stored working hours {days!r} {start!r}-{end!r} are malformed: {error}"
        ) from None
