"""JSON of the live calendar reads, and their failures as HTTP errors."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from adapters.calendar.errors import ProviderRejected, ProviderUnavailable
from adapters.calendar.rooms import Room
from ingest.calendar_reads import Availability, NoUsableCalendar, UnknownUser
from ingest.errors import ApiError

log = structlog.get_logger("calsync.reads")

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def availability_json(found: Availability) -> dict[str, Any]:
    """A user's free slots: UTC instants, and the same as wall-clock time in their zone."""
    hours = found.working_hours
    zone = ZoneInfo(hours.time_zone)
    return {
        "user_id": found.user_id,
        "provider": found.provider.value,
        "from": _utc(found.start),
        "to": _utc(found.end),
        "slot_minutes": int(found.slot.total_seconds() // 60),
        "time_zone": hours.time_zone,
        "working_hours": {
            "days": [DAY_NAMES[day] for day in sorted(hours.days)],
            "start": hours.start.strftime("%H:%M"),
            "end": hours.end.strftime("%H:%M"),
        },
        "checked_at": _utc(found.checked_at),
        "slots": [
            {
                "start": _utc(start),
                "end": _utc(end),
                "local_start": start.astimezone(zone).isoformat(),
                "local_end": end.astimezone(zone).isoformat(),
            }
            for start, end in found.slots
        ],
    }


def room_json(room: Room) -> dict[str, Any]:
    return {
        "email": room.email,
        "name": room.name,
        "capacity": room.capacity,
        "building": room.building,
        "floor": room.floor,
        "provider": room.provider.value,
    }


@contextmanager
def live_read_errors() -> Iterator[None]:
    """Answer a live read's failures: 404 unknown user, 409 no usable calendar, 502, 503."""
    try:
        yield
    except UnknownUser as error:
        # 404, not 403: another account's user must be indistinguishable from none.
        raise ApiError(404, "not_found", f"no user {error.args[0]!r}") from None
    except NoUsableCalendar as error:
        raise ApiError(409, error.code, error.message) from None
    except ProviderUnavailable as error:
        log.warning("calendar provider unavailable", reason=str(error))
        headers = (
            {"Retry-After": str(max(1, math.ceil(error.retry_after)))}
            if error.retry_after is not None
            else {}
        )
        raise ApiError(
            503,
            "provider_unavailable",
            "the calendar provider is unavailable or throttling; retry later",
            headers,
        ) from None
    except ProviderRejected as error:
        raise ApiError(
            502, "provider_rejected", f"the calendar provider refused: {error}"
        ) from None


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
