"""In-memory state of the Google Calendar sandbox."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from infra.sandbox.directory import Directory, Person
from infra.sandbox.errors import ApiError
from infra.sandbox.faults import FaultPlan
from infra.sandbox.ids import opaque_token
from infra.sandbox.invitations import InvitationLog
from infra.sandbox.notifications import NotificationDispatcher, google_should_retry
from infra.sandbox.outbound import OutboundHttp
from infra.sandbox.request_log import RequestLog
from infra.sandbox.tokens import TokenStore

#: How long Meet takes to "create" a conference after it was requested.
DEFAULT_MEET_DELAY_SECONDS = 0.2


@dataclass
class StoredEvent:
    """An event resource as ``events.get`` serves it, and the change number that last touched it."""

    resource: dict[str, Any]
    seq: int


@dataclass
class GoogleCalendar:
    """A user's primary calendar. ``epoch`` moves when sync tokens are expired."""

    owner: Person
    resource_id: str = field(default_factory=lambda: opaque_token(18))
    events: dict[str, StoredEvent] = field(default_factory=dict)
    epoch: int = 0

    @property
    def id(self) -> str:
        """The calendar id, which for a primary calendar is the owner's email."""
        return self.owner.email

    @property
    def zone(self) -> str:
        """The calendar's IANA time zone."""
        return self.owner.time_zone


@dataclass
class Channel:
    """A push channel created by ``events.watch``."""

    id: str
    resource_id: str
    resource_uri: str
    calendar_id: str
    address: str
    token: str | None
    expiration: datetime
    owner: str
    message_number: int = 0


@dataclass
class Cursor:
    """What a page token or sync token stands for.

    A page token holds the keys still to be returned; a sync token (``keys is None``)
    holds the change number that the next incremental sync starts after.
    """

    calendar_id: str
    epoch: int
    seq: int
    single_events: bool
    keys: list[str] | None = None
    params: dict[str, str] = field(default_factory=dict)


class GoogleState:
    """Everything the Google sandbox remembers; ``lock`` guards calendars, channels and cursors."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.directory = Directory()
        self.calendars: dict[str, GoogleCalendar] = {}
        self.channels: dict[str, Channel] = {}
        self.cursors: dict[str, Cursor] = {}
        self.seq = 0
        self.tokens = TokenStore("sandbox-google.")
        self.faults = FaultPlan()
        self.requests = RequestLog()
        self.invitations = InvitationLog()
        self.outbound = OutboundHttp()
        self.dispatcher = NotificationDispatcher(
            self.faults, google_should_retry, timeout=5.0, http=self.outbound
        )
        self.timers: list[threading.Timer] = []
        self.meet_delay_seconds = DEFAULT_MEET_DELAY_SECONDS

    def next_seq(self) -> int:
        """The next change number; every modification of any event takes one."""
        self.seq += 1
        return self.seq

    def reset(self) -> None:
        """Forget all users, events, channels, tokens, faults and logs."""
        with self.lock:
            for timer in self.timers:
                timer.cancel()
            self.timers.clear()
            self.directory.clear()
            self.calendars.clear()
            self.channels.clear()
            self.cursors.clear()
            self.seq = 0
            self.meet_delay_seconds = DEFAULT_MEET_DELAY_SECONDS
        self.tokens.reset()
        self.faults.clear()
        self.requests.clear()
        self.invitations.clear()
        self.dispatcher.reset()

    def add_user(self, person: Person) -> GoogleCalendar:
        """Register a user and create their primary calendar."""
        with self.lock:
            self.directory.add_user(person)
            calendar = GoogleCalendar(owner=person)
            self.calendars[person.email.lower()] = calendar
            return calendar

    def calendar(self, calendar_id: str, actor: str | None) -> GoogleCalendar:
        """The calendar ``calendar_id`` names for ``actor`` (``primary`` is the actor's own).

        Raises:
            ApiError: 404 when it does not exist or belongs to someone else.
        """
        key = (actor or "") if calendar_id == "primary" else calendar_id
        found = self.calendars.get(key.lower())
        if found is None or (actor is not None and found.owner.email.lower() != actor.lower()):
            raise ApiError(404, "notFound", "Not Found")
        return found
