"""In-memory state of the Microsoft Graph sandbox."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from infra.sandbox.directory import Directory, Person
from infra.sandbox.errors import ApiError
from infra.sandbox.faults import FaultPlan
from infra.sandbox.ids import guid
from infra.sandbox.invitations import InvitationLog
from infra.sandbox.notifications import NotificationDispatcher, graph_should_retry
from infra.sandbox.outbound import OutboundHttp
from infra.sandbox.request_log import RequestLog
from infra.sandbox.tokens import TokenStore


@dataclass
class StoredGraphEvent:
    """An event as stored: the resource with times in UTC, and its last change number.

    ``deleted`` events stay as tombstones so that delta can report them as ``@removed``.
    """

    resource: dict[str, Any]
    seq: int
    deleted: bool = False


@dataclass
class Mailbox:
    """A user's mailbox with its primary calendar. ``epoch`` moves when delta tokens expire."""

    owner: Person
    events: dict[str, StoredGraphEvent] = field(default_factory=dict)
    epoch: int = 0


@dataclass
class Subscription:
    """A change-notification subscription on one mailbox's events."""

    id: str
    resource: str
    mailbox_id: str
    change_types: list[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: datetime
    client_id: str
    creator: str | None
    tls_version: str = "v1_2"


@dataclass
class DeltaCursor:
    """What a ``$skiptoken`` (``keys`` set) or ``$deltatoken`` (``keys`` None) stands for."""

    mailbox_id: str
    epoch: int
    seq: int
    window: tuple[datetime, datetime]
    keys: list[str] | None = None
    page_size: int | None = None


class GraphState:
    """Everything the Graph sandbox remembers; ``lock`` guards mailboxes, subscriptions, cursors."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tenant_id = guid()
        self.directory = Directory()
        self.mailboxes: dict[str, Mailbox] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.cursors: dict[str, DeltaCursor] = {}
        self.seq = 0
        self.tokens = TokenStore("sandbox-graph.")
        self.faults = FaultPlan()
        self.requests = RequestLog()
        self.invitations = InvitationLog()
        self.outbound = OutboundHttp()
        self.dispatcher = NotificationDispatcher(
            self.faults, graph_should_retry, timeout=3.0, http=self.outbound
        )

    def next_seq(self) -> int:
        """The next change number."""
        self.seq += 1
        return self.seq

    def reset(self) -> None:
        """Forget all users, events, subscriptions, tokens, faults and logs."""
        with self.lock:
            self.directory.clear()
            self.mailboxes.clear()
            self.subscriptions.clear()
            self.cursors.clear()
            self.seq = 0
        self.tokens.reset()
        self.faults.clear()
        self.requests.clear()
        self.invitations.clear()
        self.dispatcher.reset()

    def add_user(self, person: Person) -> Mailbox:
        """Register a user and create their mailbox."""
        with self.lock:
            self.directory.add_user(person)
            mailbox = Mailbox(owner=person)
            self.mailboxes[person.id] = mailbox
            return mailbox

    def mailbox(self, user: str, actor: str | None) -> Mailbox:
        """The mailbox a path segment names (``me``, an id or a UPN) for ``actor``.

        ``actor`` is the token's user id, ``None`` for an app-only token (which may read
        any mailbox, as with application permissions).

        Raises:
            ApiError: 400 for ``me`` without a user, 404 for unknown users, 403 for a
                delegated token reaching into someone else's mailbox.
        """
        if user == "me":
            if actor is None:
                raise ApiError(
                    400,
                    "BadRequest",
                    "/me request is only valid with delegated authentication flow.",
                )
            user = actor
        person = self.directory.find_user(user)
        if person is None:
            raise ApiError(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
        if actor is not None and person.id != actor:
            raise ApiError(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )
        return self.mailboxes[person.id]
