"""What the HTTP layer needs from the rest of the system; the composition root fills it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from adapters.sql.appointments import AppointmentFilter, AppointmentRecord


class AccountKeys(Protocol):
    def account_for_key(self, key: str) -> str | None: ...


class AppointmentQueries(Protocol):
    def get(self, account_id: str, appointment_id: str) -> AppointmentRecord | None: ...

    def list(self, account_id: str, where: AppointmentFilter) -> list[AppointmentRecord]: ...


#: A readiness probe raises when its dependency is not usable.
ReadinessProbe = Callable[[], None]


@dataclass(frozen=True)
class IngestPorts:
    accounts: AccountKeys
    appointments: AppointmentQueries
    readiness: Mapping[str, ReadinessProbe] = field(default_factory=dict)
