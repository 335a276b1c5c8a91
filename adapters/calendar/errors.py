"""What a calendar source raises: our own errors, never the vendor's (STYLE-ANCHORS lesson 10).

Each error says what the caller should do next, whichever provider it came from:

========================  ===============================================================
``CursorExpired``         drop the cursor and page, sync the window again from scratch
``AuthorizationRevoked``  stop syncing this connection until the user reconnects
``ProviderUnavailable``   retry later (after ``retry_after`` seconds when given)
``ProviderRejected``      a permanent refusal: retrying the same request will not help
========================  ===============================================================
"""

from __future__ import annotations

from prometheus_client import Counter

#: Provider answers that left a call failed (after its own retries), by provider and the
#: HTTP status or OAuth error code. Counted where vendor errors become ours.
PROVIDER_ERRORS = Counter(
    "calsync_provider_errors_total",
    "Provider calls that failed after retries, by provider and status or OAuth error code.",
    ["provider", "code"],
)


class CalendarSourceError(Exception):
    """Base class of every error a calendar source raises."""


class CursorExpired(CalendarSourceError):
    """The provider no longer knows the sync cursor or page: a full sync is needed.

    Google answers 410 ``fullSyncRequired`` (token expiry or an ACL change); Graph answers
    410 or ``syncStateNotFound``/``resyncRequired``. Restart with ``cursor=None, page=None``.
    """


class AuthorizationRevoked(CalendarSourceError):
    """The user's grant is gone: the refresh token was refused (``invalid_grant``), or the
    API still answered 401 to a freshly refreshed access token. Only a reconnect helps."""


class ProviderUnavailable(CalendarSourceError):
    """The provider is throttling or failing (429, 5xx, connection errors) and the retries
    inside the call are used up.

    Attributes:
        retry_after: seconds the provider asked us to wait (``Retry-After``), if it said.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderRejected(CalendarSourceError):
    """The provider refused the request for good (a 4xx other than the cases above).

    Attributes:
        status: the HTTP status, when there was a response.
        reason: Google's ``errors[].reason``, Graph's ``error.code`` or the OAuth ``error``.
    """

    def __init__(self, message: str, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
