"""Microsoft Graph v1.0 as a ``CalendarWriter``: CRM appointments in the user's default calendar.

A create is one ``POST /users/{user}/calendar/events`` carrying ``transactionId``
(``TRANSACTION_PREFIX`` + the appointment id): when a worker dies between that call and our
commit, the retry gets the first event back instead of making a second one. Should that
first event say something else than the draft (the CRM changed in between), one PATCH
brings it up to date. An update reads the event first: it must know who was added in the
calendar (R24), what Outlook put in the body, and whether the event is gone (R13); then it
PATCHes only what differs, or sends nothing (R25). What to send is ``draft``'s job.

Every request asks for UTC times and immutable ids, as the delta rounds do, so the id we
return is the one the sync sees and the answer maps to the very ``EventVersion`` the sync
will read for it. A Teams meeting's join URL normally comes with the POST answer; if
Graph has not provisioned it yet, the event is read once more (R22).
"""

from __future__ import annotations

from kiota_abstractions.api_error import APIError
from kiota_abstractions.headers_collection import HeadersCollection
from kiota_abstractions.method import Method
from kiota_http.middleware.options import RetryHandlerOption
from msgraph import GraphServiceClient
from msgraph.generated.users.item.calendar.events.events_request_builder import (
    EventsRequestBuilder,
)
from msgraph.generated.users.item.events.item.event_item_request_builder import (
    EventItemRequestBuilder,
)

from adapters.calendar.errors import CalendarSourceError
from adapters.calendar.graph.auth import DEFAULT_SCOPE
from adapters.calendar.graph.calls import (
    ErrorHook,
    GraphCalls,
    Json,
    Request,
    Tally,
    json_request,
)
from adapters.calendar.graph.draft import Patch, new_event, patch_for
from adapters.calendar.graph.http import error_code
from adapters.calendar.graph.mapping import graph_event
from adapters.calendar.retry import RetryPolicy
from adapters.calendar.source import Credentials, RefreshedTokens
from adapters.calendar.writes import (
    TRANSACTION_PREFIX,
    EventDraft,
    EventGone,
    WrittenEvent,
)
from domain.model import Provider

#: Graph error codes of an event that does not exist (any more).
ITEM_NOT_FOUND = frozenset({"ErrorItemNotFound", "itemNotFound"})


class GraphCalendarWriter:
    """Writes events to users' default Microsoft 365 calendars.

    Args:
        retry: retries inside one request for connection errors and 500/502 (kiota's
            RetryHandler takes 429/503/504); its ``max_retry_after`` also bounds the
            ``Retry-After`` kiota waits out. The default suits a background worker.
        kiota_max_retries: retries of kiota's RetryHandler.
        timeout: seconds per HTTP request.
        max_cached_users: users whose client is kept between writes.
        scope: the ``scope`` of refresh requests.
    """

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        kiota_max_retries: int = RetryHandlerOption.DEFAULT_MAX_RETRIES,
        timeout: float = 30.0,
        max_cached_users: int = 128,
        scope: str = DEFAULT_SCOPE,
    ) -> None:
        self._calls = GraphCalls(
            "calsync-graph-write",
            retry=retry or RetryPolicy(),
            kiota_max_retries=kiota_max_retries,
            timeout=timeout,
            max_cached_users=max_cached_users,
            scope=scope,
        )

    def create(self, credentials: Credentials, draft: EventDraft) -> WrittenEvent:
        """POST the event, idempotent on the appointment id (see ``CalendarWriter.create``).

        ``calls`` is 1 for a new event, 2 when a Teams join URL had to be read separately,
        plus retries; a repeat whose first event differs from ``draft`` adds one PATCH.
        """
        write = _Write(self._calls, _checked(credentials))
        body = new_event(draft, TRANSACTION_PREFIX + draft.appointment_id)
        answer = write.send(
            lambda client: json_request(Method.POST, _events(client, write.user), body, _prefer()),
            "create event",
        )
        patch = patch_for(answer, draft, None)
        if patch.fields:
            answer = write.patch(str(answer["id"]), patch.fields)
        return write.result(_with_join_url(write, answer, draft), patch)

    def update(
        self,
        credentials: Credentials,
        event_id: str,
        draft: EventDraft,
        previously_written: tuple[str, ...],
        rooms_written: tuple[str, ...] | None = None,
    ) -> WrittenEvent:
        """GET the event, then PATCH what differs (see ``CalendarWriter.update``).

        ``calls`` is 1 when nothing differs, 2 with a PATCH, 3 when a Teams meeting was
        just turned on and its join URL had to be read, plus retries.

        Raises:
            EventGone: 404 ``ErrorItemNotFound``, or the event is cancelled.
        """
        write = _Write(self._calls, _checked(credentials))
        current = write.get(event_id)
        if current.get("isCancelled"):
            raise EventGone(f"Microsoft Graph event {event_id} is cancelled")
        patch = patch_for(current, draft, previously_written, rooms_written)
        answer = write.patch(event_id, patch.fields) if patch.fields else current
        return write.result(_with_join_url(write, answer, draft), patch)

    def close(self) -> None:
        """Close the HTTP clients and stop the event loop (both restart on next use)."""
        self._calls.close()


class _Write:
    """The requests of one write: its call count and the tokens refreshed along the way."""

    def __init__(self, calls: GraphCalls, credentials: Credentials) -> None:
        self._calls = calls
        self._credentials = credentials
        self._tally = Tally()
        self._tokens: RefreshedTokens | None = None

    @property
    def user(self) -> str:
        return self._credentials.user

    def send(self, request: Request, operation: str, on_error: ErrorHook | None = None) -> Json:
        answer, fresh = self._calls.send(
            self._credentials, request, operation, self._tally, on_error
        )
        if fresh is not None:
            self._tokens = fresh
            self._credentials = self._credentials.with_tokens(fresh)
        return answer

    def get(self, event_id: str) -> Json:
        return self.send(
            lambda client: json_request(
                Method.GET, _event(client, self.user, event_id), None, _prefer()
            ),
            "get event",
            _gone,
        )

    def patch(self, event_id: str, fields: Json) -> Json:
        return self.send(
            lambda client: json_request(
                Method.PATCH, _event(client, self.user, event_id), fields, _prefer()
            ),
            "patch event",
            _gone,
        )

    def result(self, answer: Json, patch: Patch) -> WrittenEvent:
        event = graph_event(answer)
        return WrittenEvent(
            event_id=event.event_id,
            ical_uid=event.ical_uid,
            version=event.version,
            video_url=event.video_url,
            attendees=patch.people,
            rooms=patch.rooms,
            calls=self._tally.calls,
            tokens=self._tokens,
        )


def _with_join_url(write: _Write, answer: Json, draft: EventDraft) -> Json:
    """``answer``, or the event read once more when its Teams join URL was not in it yet."""
    if not draft.video or (answer.get("onlineMeeting") or {}).get("joinUrl"):
        return answer
    return write.get(str(answer["id"]))


def _checked(credentials: Credentials) -> Credentials:
    if credentials.provider is not Provider.MICROSOFT:
        raise ValueError(f"Graph writer given {credentials.provider} credentials")
    return credentials


def _gone(error: APIError) -> CalendarSourceError | None:
    if error.response_status_code == 404 and error_code(error) in ITEM_NOT_FOUND:
        return EventGone(f"Microsoft Graph event not found ({error_code(error)})")
    return None


def _prefer() -> HeadersCollection:
    """The delta rounds' ``Prefer``: UTC times (as ``mapping`` reads) and immutable ids."""
    headers = HeadersCollection()
    headers.add("Prefer", ['outlook.timezone="UTC"', 'IdType="ImmutableId"'])
    return headers


def _events(client: GraphServiceClient, user: str) -> EventsRequestBuilder:
    return client.users.by_user_id(user).calendar.events


def _event(client: GraphServiceClient, user: str, event_id: str) -> EventItemRequestBuilder:
    return client.users.by_user_id(user).events.by_event_id(event_id)
