"""Exceptions the domain raises when it is handed values it cannot work with.

Every one is also a ``ValueError``: callers that only care that the input was bad can
catch that, while callers that want to tell the cases apart can catch the precise class.
"""


class DomainError(Exception):
    """Base class of every exception raised by the domain package."""


class NaiveDatetimeError(DomainError, ValueError):
    """A datetime without a UTC offset was given where an instant is needed."""


class UnknownTimeZoneError(DomainError, ValueError):
    """A time-zone name that is not in the IANA database."""


class InvalidTimingError(DomainError, ValueError):
    """A start and end that do not describe a span of time."""
