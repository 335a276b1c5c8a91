"""What the HTTP layer needs from the rest of the system; the composition root fills it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from adapters.broker.publisher import Publisher
from adapters.sql.appointments import AppointmentFilter, AppointmentRecord
from adapters.sql.channels import ChannelRecord
from adapters.sql.connection_list import ConnectionFilter, ListedConnection
from domain.clock import Clock, system_clock
from domain.explanations import Explanation

if TYPE_CHECKING:
    from adapters.calendar.rooms import Room
    from ingest.calendar_reads import Availability


class AccountKeys(Protocol):
    def account_for_key(self, key: str) -> str | None: ...


class KnownAccounts(Protocol):
    def exists(self, account_id: str) -> bool:
        """Whether the account was created (``calsync account create``, a directory load)."""
        ...


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


class AvailabilityLookup(Protocol):
    def free_slots(
        self, account_id: str, user_id: str, start: datetime, end: datetime, slot: timedelta
    ) -> Availability:
        """A user's free slots, live from the provider (R28); see ``ingest.calendar_reads``."""
        ...


class RoomLookup(Protocol):
    def rooms(self, account_id: str) -> list[Room]:
        """The account's rooms, live from the provider; see ``ingest.calendar_reads``."""
        ...


class ConnectionListing(Protocol):
    def list(self, account_id: str, where: ConnectionFilter) -> list[ListedConnection]:
        """The account's calendar connections (R36); see ``adapters.sql.connection_list``."""
        ...


class ExplanationLookup(Protocol):
    def explain(self, account_id: str, user_id: str, event_id: str) -> Explanation | None:
        """What the last sync that saw the event made of it (R36); see
        ``adapters.sql.explanations``. Raises ``NoSuchUser`` for a user the account lacks."""
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
    #: Live free slots and rooms (``/api/v1/users/{id}/availability``, ``/api/v1/rooms``);
    #: None where nothing may reach the providers (those routes then answer 409).
    availability: AvailabilityLookup | None = None
    rooms: RoomLookup | None = None
    #: Which accounts exist, so a CRM event for another is refused at once (404) rather
    #: than dead-lettered by the worker; None skips that check.
    known_accounts: KnownAccounts | None = None
    #: ``GET /api/v1/connections`` (R36); None answers 409 ``not_available``.
    connection_list: ConnectionListing | None = None
    #: ``GET /api/v1/users/{id}/events/{id}/explanation`` (R36); None answers 409.
    explanations: ExplanationLookup | None = None
    #: The time for signature freshness and anything else ingest decides by the clock.
    clock: Clock = system_clock
