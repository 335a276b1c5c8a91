"""Live calendar reads behind the read API: a user's free slots (R28) and the account's rooms.

Both ask the provider while the request waits, with the stored grant of a connection, and
cache nothing: the answer is never older than the request. Tokens the provider refreshed
are stored again; a grant the provider refuses marks the connection ``needs_reconnect``,
exactly as the sync worker does.

Which grant lists the rooms: rooms belong to the organisation, not to a user, so any
connected user of the account will do. Active connections are tried oldest first, at most
``ROOM_GRANTS_TRIED`` per provider; a user whose grant may not read the rooms (Google's
Directory wants a Workspace admin or a delegated resource reader; a 403) or whose grant is
revoked is passed over for the next. An account with calendars at both providers gets the
rooms of both. A provider that is down fails the whole answer (503) rather than leaving
half the rooms out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from adapters.calendar.availability import BusyTimes
from adapters.calendar.errors import AuthorizationRevoked, ProviderRejected
from adapters.calendar.rooms import Room, RoomList
from adapters.calendar.source import Credentials, RefreshedTokens
from adapters.calendar.stored import StoredTokens, StoredTokensError
from adapters.sql.calendar_users import SqlCalendarUsers
from adapters.sql.connections import ConnectionNotFound, ConnectionRecord, SqlConnections
from domain.availability import Interval, WorkingHours, free_slots
from domain.clock import Clock, system_clock
from domain.model import Provider

log = structlog.get_logger("calsync.reads")

#: Connections whose grant is tried per provider when listing rooms.
ROOM_GRANTS_TRIED = 3

#: Makes a connection's credentials from its stored tokens (``infra.credentials``).
CredentialsFor = Callable[[ConnectionRecord, StoredTokens], Credentials]


class UnknownUser(LookupError):
    """The account has no such user (whether another account has one is never told)."""


class NoUsableCalendar(Exception):
    """No connected calendar can answer: none exists, or it needs reconnecting.

    Attributes:
        code: ``not_connected``, ``needs_reconnect`` or ``no_room_access``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Availability:
    """A user's free slots in a period, as the provider saw it at ``checked_at``."""

    user_id: str
    provider: Provider
    start: datetime
    end: datetime
    slot: timedelta
    working_hours: WorkingHours
    slots: tuple[Interval, ...]
    checked_at: datetime


class LiveAvailability:
    """``free_slots`` of ``domain.availability`` over busy times read live (R28).

    Args:
        users: working hours of users.
        connections: connections and their stored grants.
        busy_times: the busy-time reader of a provider.
        credentials_for: a connection's credentials from its stored tokens.
        now: the clock (tests may pass a fake).
    """

    def __init__(
        self,
        users: SqlCalendarUsers,
        connections: SqlConnections,
        busy_times: Callable[[Provider], BusyTimes],
        credentials_for: CredentialsFor,
        now: Clock = system_clock,
    ) -> None:
        self._users = users
        self._connections = connections
        self._busy_times = busy_times
        self._credentials_for = credentials_for
        self._now = now

    def free_slots(
        self, account_id: str, user_id: str, start: datetime, end: datetime, slot: timedelta
    ) -> Availability:
        """The user's free slots of length ``slot`` within working hours and the period.

        Raises:
            UnknownUser: the account has no user ``user_id``.
            NoUsableCalendar: the user has no connection, or it needs reconnecting.
            ProviderUnavailable: the provider is down or throttling; retry later.
            ProviderRejected: the provider refused the question for good.
        """
        hours = self._users.working_hours(account_id, user_id)
        if hours is None:
            raise UnknownUser(user_id)
        record = self._connections.for_user(account_id, user_id)
        if record is None:
            raise NoUsableCalendar(
                "not_connected", f"user {user_id!r} has not connected a calendar"
            )
        credentials = _usable_credentials(self._connections, self._credentials_for, record)
        checked_at = self._now()
        try:
            answer = self._busy_times(Provider(record.provider)).busy(credentials, start, end)
        except AuthorizationRevoked as error:
            raise _revoked(self._connections, record, error) from None
        _store_tokens(self._connections, record, answer.tokens)
        return Availability(
            user_id=user_id,
            provider=Provider(record.provider),
            start=start,
            end=end,
            slot=slot,
            working_hours=hours,
            slots=tuple(free_slots(answer.busy, start, end, hours, slot)),
            checked_at=checked_at,
        )


class AccountRooms:
    """The rooms of an account's organisation, through a connected user's grant.

    Args:
        users: the account's connections.
        connections: connections and their stored grants.
        room_lists: the room list of a provider.
        credentials_for: a connection's credentials from its stored tokens.
    """

    def __init__(
        self,
        users: SqlCalendarUsers,
        connections: SqlConnections,
        room_lists: Callable[[Provider], RoomList],
        credentials_for: CredentialsFor,
    ) -> None:
        self._users = users
        self._connections = connections
        self._room_lists = room_lists
        self._credentials_for = credentials_for

    def rooms(self, account_id: str) -> list[Room]:
        """Every room, ordered by name then address (see the module docstring for whose grant).

        Raises:
            NoUsableCalendar: the account has no active connection, or none may list rooms.
            ProviderUnavailable: a provider is down or throttling; retry later.
        """
        candidates = self._users.connections(account_id)
        active = [c for c in candidates if c.status == "active"]
        if not active:
            if candidates:
                raise NoUsableCalendar(
                    "needs_reconnect",
                    "every calendar connection of this account needs reconnecting",
                )
            raise NoUsableCalendar("not_connected", "no user of this account has a calendar")
        by_provider: dict[Provider, list[str]] = {}
        for connection in active:
            by_provider.setdefault(Provider(connection.provider), []).append(connection.id)
        found: list[Room] = []
        refusals: list[str] = []
        listed = False
        for provider, connection_ids in by_provider.items():
            rooms = self._first_grant_that_lists(provider, connection_ids, refusals)
            if rooms is not None:
                listed = True
                found.extend(rooms)
        if not listed:
            raise NoUsableCalendar(
                "no_room_access",
                "no connected calendar of this account may list rooms: " + "; ".join(refusals),
            )
        return sorted(found, key=lambda room: (room.name.lower(), room.email.lower()))

    def _first_grant_that_lists(
        self, provider: Provider, connection_ids: list[str], refusals: list[str]
    ) -> tuple[Room, ...] | None:
        for connection_id in connection_ids[:ROOM_GRANTS_TRIED]:
            record = self._connections.get(connection_id)
            if record is None or record.status != "active":
                continue
            try:
                credentials = _usable_credentials(self._connections, self._credentials_for, record)
                answer = self._room_lists(provider).rooms(credentials)
            except NoUsableCalendar as error:
                refusals.append(f"{record.user_id}: {error.message}")
                continue
            except AuthorizationRevoked as error:
                refusals.append(f"{record.user_id}: {_revoked(self._connections, record, error)}")
                continue
            except ProviderRejected as error:
                log.info(
                    "room list refused",
                    provider=provider.value,
                    user_id=record.user_id,
                    status=error.status,
                    reason=error.reason,
                )
                refusals.append(f"{record.user_id}: {provider.value} refused ({error})")
                continue
            _store_tokens(self._connections, record, answer.tokens)
            return answer.rooms
        return None


def _usable_credentials(
    connections: SqlConnections, credentials_for: CredentialsFor, record: ConnectionRecord
) -> Credentials:
    if record.status != "active":
        raise NoUsableCalendar(
            "needs_reconnect",
            f"the calendar connection of user {record.user_id!r} needs reconnecting",
        )
    try:
        stored = StoredTokens.load(connections.credentials(record.id))
    except (ConnectionNotFound, StoredTokensError):
        raise NoUsableCalendar(
            "needs_reconnect",
            f"the calendar connection of user {record.user_id!r} holds no usable grant; "
            "reconnect it",
        ) from None
    return credentials_for(record, stored)


def _revoked(
    connections: SqlConnections, record: ConnectionRecord, error: AuthorizationRevoked
) -> NoUsableCalendar:
    """Mark the connection as the sync worker would, and say so."""
    connections.mark_needs_reconnect(record.id, str(error))
    log.warning("grant refused", connection_id=record.id, user_id=record.user_id)
    return NoUsableCalendar(
        "needs_reconnect",
        f"the provider refused the grant of user {record.user_id!r}; reconnect the calendar",
    )


def _store_tokens(
    connections: SqlConnections, record: ConnectionRecord, tokens: RefreshedTokens | None
) -> None:
    if tokens is not None:
        connections.store_credentials(record.id, StoredTokens.refreshed(tokens).dump())
