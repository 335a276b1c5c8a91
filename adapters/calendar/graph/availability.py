"""Graph busy times: ``POST /users/{user}/calendar/getSchedule`` for the user's own address.

Asked in UTC (``Prefer: outlook.timezone="UTC"`` and UTC start/end), so ``scheduleItems``
come back as UTC wall-clock times (PROVIDERS.md B7). Items whose status is ``busy``,
``tentative``, ``oof`` (or one Graph adds later) block time; ``free`` and
``workingElsewhere`` do not. When Graph sends no items but its ``availabilityView`` shows
blocked time (it may withhold items), the view's blocked intervals are used instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.headers_collection import HeadersCollection
from msgraph import GraphServiceClient
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.schedule_information import ScheduleInformation
from msgraph.generated.models.schedule_item import ScheduleItem
from msgraph.generated.users.item.calendar.get_schedule.get_schedule_post_request_body import (
    GetSchedulePostRequestBody,
)
from msgraph.generated.users.item.calendar.get_schedule.get_schedule_post_response import (
    GetSchedulePostResponse,
)

from adapters.calendar.availability import BusyAnswer
from adapters.calendar.errors import ProviderRejected, ProviderUnavailable
from adapters.calendar.graph.reads import GraphReader
from adapters.calendar.source import Credentials
from adapters.calendar.times import iana_zone, parse_instant
from domain.availability import Interval

#: Minutes per digit of ``availabilityView`` (Graph's minimum: the finest fallback).
VIEW_INTERVAL_MINUTES = 5

#: Item statuses and view digits that leave the time free.
FREE_STATUSES = frozenset({"free", "workingElsewhere"})
FREE_DIGITS = frozenset("04")


class GraphBusyTimes:
    """Busy intervals of users' Microsoft 365 calendars.

    Args:
        options: ``GraphReader`` keyword arguments (``retry``, ``kiota_max_retries``,
            ``timeout``, ``max_cached_users``, ``scope``).
    """

    def __init__(self, **options: Any) -> None:
        self._reader = GraphReader("calsync-graph-schedule", **options)

    def busy(self, credentials: Credentials, start: datetime, end: datetime) -> BusyAnswer:
        """``getSchedule`` for the user's own address (see ``BusyTimes.busy``)."""
        low, high = start.astimezone(UTC), end.astimezone(UTC)
        body = GetSchedulePostRequestBody(
            schedules=[credentials.user],
            start_time=DateTimeTimeZone(date_time=_wall_clock(low), time_zone="UTC"),
            end_time=DateTimeTimeZone(date_time=_wall_clock(high), time_zone="UTC"),
            availability_view_interval=VIEW_INTERVAL_MINUTES,
        )
        headers = HeadersCollection()
        headers.add("Prefer", 'outlook.timezone="UTC"')
        config: RequestConfiguration[Any] = RequestConfiguration(headers=headers)

        async def send(client: GraphServiceClient) -> GetSchedulePostResponse | None:
            schedule = client.users.by_user_id(credentials.user).calendar.get_schedule
            return await schedule.post(body, request_configuration=config)

        answer, tokens = self._reader.call(credentials, send, "getSchedule")
        information = _own_schedule(answer, credentials.user)
        return BusyAnswer(busy=busy_intervals(information, low), tokens=tokens)

    def close(self) -> None:
        """Close the HTTP clients and stop the event loop."""
        self._reader.close()


def _own_schedule(answer: GetSchedulePostResponse | None, address: str) -> ScheduleInformation:
    schedules = list(answer.value or []) if answer is not None else []
    if not schedules:
        raise ProviderUnavailable("Microsoft Graph getSchedule answered without a schedule")
    wanted = address.lower()
    found = next((s for s in schedules if (s.schedule_id or "").lower() == wanted), schedules[0])
    if found.error is not None:
        code = str(found.error.response_code or "")
        raise ProviderRejected(
            f"Microsoft Graph getSchedule reports {code or 'an error'} for the user", None, code
        )
    return found


def busy_intervals(information: ScheduleInformation, start: datetime) -> tuple[Interval, ...]:
    """The blocked intervals of one schedule, aware UTC.

    Args:
        information: Graph's answer for the user.
        start: the start of the period asked about (where ``availabilityView`` begins).

    Raises:
        ProviderUnavailable: an item's time cannot be read.
    """
    items = list(information.schedule_items or [])
    if items:
        return tuple(_item_interval(item) for item in items if _blocks(item))
    return view_intervals(information.availability_view or "", start, VIEW_INTERVAL_MINUTES)


def view_intervals(view: str, start: datetime, minutes: int) -> tuple[Interval, ...]:
    """Blocked intervals of an ``availabilityView`` whose first digit begins at ``start``."""
    step = timedelta(minutes=minutes)
    return tuple(
        (start + index * step, start + (index + 1) * step)
        for index, digit in enumerate(view)
        if digit not in FREE_DIGITS
    )


def _blocks(item: ScheduleItem) -> bool:
    status = item.status.value if item.status is not None else "busy"
    return status not in FREE_STATUSES


def _item_interval(item: ScheduleItem) -> Interval:
    low, high = _instant(item.start), _instant(item.end)
    return low, max(low, high)


def _instant(value: DateTimeTimeZone | None) -> datetime:
    text = value.date_time if value is not None else None
    name = (value.time_zone if value is not None else None) or "UTC"
    zone = iana_zone(name)
    moment = parse_instant(text, zone) if zone is not None else None
    if moment is None:
        raise ProviderUnavailable(
            f"Microsoft Graph getSchedule answered a time {text!r} in zone {name!r}"
        )
    return moment.astimezone(UTC)


def _wall_clock(moment: datetime) -> str:
    """A UTC instant as Graph's zone-less ``dateTime`` (its zone goes in ``timeZone``)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat()
