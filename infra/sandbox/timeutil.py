"""Clock and timestamp formats shared by both sandboxes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def parse_rfc3339(value: str) -> datetime:
    """Parse an RFC 3339 timestamp that must carry an offset (``Z`` or ``+hh:mm``).

    Raises:
        ValueError: the text is not a timestamp or has no offset.
    """
    parsed = datetime.fromisoformat(value.replace("z", "Z"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without offset: {value!r}")
    return parsed


def format_rfc3339(moment: datetime) -> str:
    """Format as Google does for ``updated``/``created``: UTC, milliseconds, ``Z``."""
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def format_with_offset(moment: datetime) -> str:
    """Format a wall-clock time with its own offset, ``Z`` for UTC (Google ``dateTime``)."""
    text = moment.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def format_rfc1123(moment: datetime) -> str:
    """The human-readable form Google uses in ``X-Goog-Channel-Expiration``."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch."""
    return int(moment.timestamp() * 1000)


def from_epoch_ms(value: int | str) -> datetime:
    """Inverse of :func:`epoch_ms`."""
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def seconds_from_now(seconds: float) -> datetime:
    """A moment ``seconds`` after now."""
    return utcnow() + timedelta(seconds=seconds)
