"""The one exception the sandbox services raise; each app renders it in its provider's shape."""

from __future__ import annotations


class ApiError(Exception):
    """A protocol error to return to the client.

    Args:
        status: HTTP status code.
        reason: Google's ``reason`` or Graph's error ``code``.
        message: human-readable text.
        domain: Google's error ``domain`` (ignored by Graph).
        headers: extra response headers, e.g. ``Retry-After`` or ``Location``.
    """

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.domain = domain
        self.headers = headers or {}
