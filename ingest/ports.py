"""What the HTTP layer needs from the rest of the system; the composition root fills it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from adapters.broker.publisher import Publisher
from adapters.sql.appointments import AppointmentFilter, AppointmentRecord
from adapters.sql.channels import ChannelRecord


class AccountKeys(Protocol):
    def account_for_key(self, key: str) -> str | None: ...


class AppointmentQueries(Protocol):
    def get(self, account_id: str, appointment_id: str) -> AppointmentRecord | None: ...

    def list(self, account_id: str, where: AppointmentFilter) -> list[AppointmentRecord]: ...


class ChannelLookup(Protocol):
    def find(self, channel_id: str) -> ChannelRecord | None:
        """The Google channel or Graph subscription with this id, or None."""
        ...

    def find_many(self, channel_ids: Iterable[str]) -> dict[str, ChannelRecord]:
        """Those of the channels named that exist, by id (for Graph's batches)."""
        ...


#: A readiness probe raises when its dependency is not usable.
ReadinessProbe = Callable[[], None]


@dataclass(frozen=True)
class IngestPorts:
    accounts: AccountKeys
    appointments: AppointmentQueries
    #: Where webhook hints and CRM events go; ingest answers 2xx only after its confirm.
    publisher: Publisher
    channels: ChannelLookup
    #: Shared secret of ``X-Calsync-Signature`` on ``POST /crm/events``.
    crm_signing_secret: str = field(repr=False)
    readiness: Mapping[str, ReadinessProbe] = field(default_factory=dict)
