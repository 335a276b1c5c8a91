"""Graph event operations shared by the API routes and the admin API."""

from __future__ import annotations

import copy
from typing import Any

from infra.sandbox import graph_events, graph_instances, graph_subscriptions, graph_times
from infra.sandbox.errors import ApiError
from infra.sandbox.graph_state import GraphState, Mailbox, StoredGraphEvent
from infra.sandbox.ids import graph_event_id, graph_ical_uid
from infra.sandbox.timeutil import utcnow


class GraphEvents:
    """Create, read, change, cancel and delete events; changes notify and may send mail.

    Callers hold no lock; each method takes ``state.lock`` itself.
    """

    def __init__(self, state: GraphState) -> None:
        self.state = state

    def get(self, mailbox: Mailbox, event_id: str) -> dict[str, Any]:
        """An event or occurrence; 404 ``ErrorItemNotFound`` when it does not exist."""
        with self.state.lock:
            return copy.deepcopy(self._find(mailbox, event_id))

    def create(
        self, mailbox: Mailbox, body: dict[str, Any], organizer: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """POST an event. A repeated ``transactionId`` returns the event created the first time."""
        with self.state.lock:
            existing = self._by_transaction(mailbox, body.get("transactionId"))
            if existing is not None:
                return copy.deepcopy(existing)
            now = utcnow()
            event_id = graph_event_id()
            resource = {**graph_events.defaults(mailbox.owner), **graph_events.writable(body)}
            if organizer:
                resource["organizer"] = organizer
            resource.update(
                id=event_id,
                iCalUId=graph_ical_uid(),
                createdDateTime=graph_times.utc_stamp(now),
                webLink=f"https://outlook.office365.com/owa/?itemid={event_id}&path=/calendar/item",
            )
            if body.get("transactionId"):
                resource["transactionId"] = body["transactionId"]
            self._finalize(mailbox, resource, None)
            self._store(mailbox, resource, "created")
            self._mail(resource, "invitation", graph_events.attendee_emails(resource))
            return copy.deepcopy(resource)

    def _by_transaction(
        self, mailbox: Mailbox, transaction_id: str | None
    ) -> dict[str, Any] | None:
        if not transaction_id:
            return None
        for stored in mailbox.events.values():
            if not stored.deleted and stored.resource.get("transactionId") == transaction_id:
                return stored.resource
        return None

    def update(self, mailbox: Mailbox, event_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH an event; patching an occurrence turns it into an exception."""
        with self.state.lock:
            previous = self._find(mailbox, event_id)
            changed = graph_events.merge(previous, body)
            if changed.get("type") == "occurrence":
                changed["type"] = "exception"
            self._finalize(mailbox, changed, previous)
            self._store(mailbox, changed, "updated")
            self._mail_changes(previous, changed)
            return copy.deepcopy(changed)

    def delete(self, mailbox: Mailbox, event_id: str) -> None:
        """DELETE an event (a master takes its exceptions with it)."""
        with self.state.lock:
            previous = self._find(mailbox, event_id)
            self._tombstone(mailbox, previous)

    def cancel(self, mailbox: Mailbox, event_id: str) -> None:
        """The organizer cancels a meeting: attendees get a cancellation, the event goes."""
        with self.state.lock:
            previous = self._find(mailbox, event_id)
            if not previous.get("isOrganizer"):
                raise ApiError(
                    400,
                    "ErrorAccessDenied",
                    "Your request can't be completed. "
                    "You need to be an organizer to cancel a meeting.",
                )
            self._mail(previous, "cancellation", graph_events.attendee_emails(previous))
            self._tombstone(mailbox, previous)

    def _tombstone(self, mailbox: Mailbox, resource: dict[str, Any]) -> None:
        mailbox.events[resource["id"]] = StoredGraphEvent(
            copy.deepcopy(resource), self.state.next_seq(), deleted=True
        )
        graph_subscriptions.notify_change(self.state, mailbox, resource["id"], "deleted", None)
        if graph_instances.is_master(resource):
            for stored in mailbox.events.values():
                if stored.resource.get("seriesMasterId") == resource["id"] and not stored.deleted:
                    stored.deleted = True
                    stored.seq = self.state.next_seq()

    def _find(self, mailbox: Mailbox, event_id: str) -> dict[str, Any]:
        stored = mailbox.events.get(event_id)
        if stored is not None and not stored.deleted:
            return stored.resource
        virtual = None if stored is not None else graph_instances.find_virtual(mailbox, event_id)
        if virtual is None:
            raise ApiError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        return virtual

    def _finalize(
        self, mailbox: Mailbox, resource: dict[str, Any], previous: dict[str, Any] | None
    ) -> None:
        graph_events.finalize(
            resource,
            previous,
            owner=mailbox.owner,
            directory=self.state.directory,
            tenant_id=self.state.tenant_id,
            now=utcnow(),
        )

    def _store(self, mailbox: Mailbox, resource: dict[str, Any], change_type: str) -> None:
        mailbox.events[resource["id"]] = StoredGraphEvent(resource, self.state.next_seq())
        graph_subscriptions.notify_change(
            self.state, mailbox, resource["id"], change_type, resource["@odata.etag"]
        )

    def _mail_changes(self, previous: dict[str, Any], changed: dict[str, Any]) -> None:
        before = {e.lower() for e in graph_events.attendee_emails(previous)}
        after = graph_events.attendee_emails(changed)
        after_lower = {e.lower() for e in after}
        self._mail(changed, "invitation", [e for e in after if e.lower() not in before])
        if any(changed.get(f) != previous.get(f) for f in graph_events.MEETING_FIELDS):
            self._mail(changed, "update", [e for e in after if e.lower() in before])
        removed = [
            e for e in graph_events.attendee_emails(previous) if e.lower() not in after_lower
        ]
        self._mail(previous, "cancellation", removed)

    def _mail(self, resource: dict[str, Any], kind: str, recipients: list[str]) -> None:
        # Outlook mails attendees whenever the organizer sends; there is no opt-out flag.
        if recipients and resource.get("isOrganizer"):
            self.state.invitations.record(
                kind,
                recipients,
                organizer=resource["organizer"]["emailAddress"]["address"],
                event_id=resource["id"],
                ical_uid=resource["iCalUId"],
                subject=resource.get("subject", ""),
            )
