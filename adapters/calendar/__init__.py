"""Reading users' calendars: the ``CalendarSource`` port and its Google and Graph adapters.

Importing this package loads neither google-api-python-client nor msgraph-sdk; the
factory imports the adapter it is asked for.
"""

from adapters.calendar.factory import CalendarSources, source_for
from adapters.calendar.fake import FakeCalendarSource
from adapters.calendar.source import (
    UNKNOWN_VERSION_TIME,
    AuthorizationRevoked,
    CalendarSource,
    CalendarSourceError,
    ChangePage,
    Credentials,
    CursorExpired,
    ProviderRejected,
    ProviderUnavailable,
    RefreshedTokens,
)

__all__ = [
    "UNKNOWN_VERSION_TIME",
    "AuthorizationRevoked",
    "CalendarSource",
    "CalendarSourceError",
    "CalendarSources",
    "ChangePage",
    "Credentials",
    "CursorExpired",
    "FakeCalendarSource",
    "ProviderRejected",
    "ProviderUnavailable",
    "RefreshedTokens",
    "source_for",
]
