"""The dead-letter filters of the console's forms, read as ``calsync dlq`` reads its options:
queue, reason, error class, account, a time range (an age like ``2h`` or an ISO 8601
instant) and the state (never replayed by default: what still needs someone)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.sql.dead_letters import Filters

FIELDS = ("queue", "reason", "error_class", "account", "since", "before", "state")
STATES = {"pending": False, "replayed": True, "any": None}
_AGE = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
#: Longest text a filter field takes (the widest column, ``error_class``, is 255).
MAX_FIELD = 255


class BadFilter(ValueError):
    """A field the form sent cannot be a filter; the message says which and why."""


@dataclass(frozen=True)
class LetterQuery:
    #: The fields as sent (for the form and for links), empty ones left out.
    fields: dict[str, str]
    filters: Filters

    def described(self) -> dict[str, Any]:
        """How the letters were chosen, for the audit rows (as ``calsync dlq`` writes it)."""
        return {"all": True, "console": True, **self.fields}


def read(source: Mapping[str, str], now: datetime) -> LetterQuery:
    """Raises ``BadFilter``."""
    fields = {name: source.get(name, "").strip() for name in FIELDS}
    fields = {name: value for name, value in fields.items() if value}
    for name, value in fields.items():
        if len(value) > MAX_FIELD:
            raise BadFilter(f"{name} is longer than {MAX_FIELD} characters")
    state = fields.get("state", "pending")
    if state not in STATES:
        raise BadFilter(f"state must be one of {', '.join(STATES)}")
    fields["state"] = state
    filters = Filters(
        queue=fields.get("queue"),
        reason=fields.get("reason"),
        error_class=fields.get("error_class"),
        account_id=fields.get("account"),
        since=_moment("since", fields.get("since"), now),
        before=_moment("before", fields.get("before"), now),
        replayed=STATES[state],
    )
    return LetterQuery(fields, filters)


def _moment(name: str, text: str | None, now: datetime) -> datetime | None:
    if text is None:
        return None
    age = _AGE.match(text)
    if age:
        return now - timedelta(**{_UNITS[age.group(2)]: int(age.group(1))})
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadFilter(
            f"{name}: {text!r} is neither an age (30m, 2h, 7d) nor an ISO 8601 time"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
