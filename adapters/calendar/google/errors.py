"""Google's failures as ours: what is worth a retry, and what each one means for the caller."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from googleapiclient.errors import Error as GoogleApiClientError
from googleapiclient.errors import HttpError

from adapters.calendar.errors import (
    PROVIDER_ERRORS,
    AuthorizationRevoked,
    CalendarSourceError,
    CursorExpired,
    ProviderRejected,
    ProviderUnavailable,
)
from adapters.calendar.retry import RetryPolicy, parse_retry_after

#: 403 reasons that mean "slow down" rather than "forbidden" (PROVIDERS.md A6).
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})

#: Failures to reach Google at all (API or token endpoint).
T = TypeVar("T")

TRANSPORT_ERRORS = (OSError, httplib2.HttpLib2Error, TransportError)


def is_transient(error: BaseException) -> bool:
    """Whether another try may work: 429, a rate-limit 403, 5xx, or no connection."""
    if isinstance(error, HttpError):
        status = error.resp.status
        if status == 403:
            return _reason(error) in RATE_LIMIT_REASONS
        return status == 429 or status >= 500
    return isinstance(error, TRANSPORT_ERRORS) and not isinstance(error, RefreshError)


def retry_after_of(error: BaseException) -> float | None:
    """The ``Retry-After`` of an HTTP error, in seconds, if Google sent one."""
    if isinstance(error, HttpError):
        return parse_retry_after(error.resp.get("retry-after"))
    return None


def _reason(error: HttpError) -> str:
    """Google's first ``errors[].reason``, or "" when the body has none."""
    try:
        details = json.loads(error.content)["error"]
        return str((details.get("errors") or [{}])[0].get("reason") or details.get("status") or "")
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return ""


def translate_http_error(error: HttpError, operation: str = "events.list") -> CalendarSourceError:
    """Our error for an API error that retries did not cure.

    A 401 reaching here already had a refreshed token: google-auth refreshes and retries
    on 401 by itself. ``operation`` names the call in the message.
    """
    status, reason = error.resp.status, _reason(error)
    PROVIDER_ERRORS.labels("google", str(status)).inc()
    what = f"Google {operation} answered {status} {reason}".rstrip()
    if status == 410:
        return CursorExpired(f"{what}: a full sync is required")
    if status == 401:
        return AuthorizationRevoked(f"{what} to a freshly refreshed token")
    if is_transient(error):
        return ProviderUnavailable(what, retry_after_of(error))
    return ProviderRejected(what, status, reason)


def translate_refresh_error(error: RefreshError) -> CalendarSourceError:
    """Our error for a failed token refresh (google-auth has retried 5xx already)."""
    answer = error.args[1] if len(error.args) > 1 and isinstance(error.args[1], dict) else {}
    code = answer.get("error") if isinstance(answer.get("error"), str) else ""
    PROVIDER_ERRORS.labels("google", code or "token_refresh").inc()
    if code == "invalid_grant":
        return AuthorizationRevoked(
            f"Google refused the refresh token: {answer.get('error_description', code)}"
        )
    if getattr(error, "retryable", False):
        return ProviderUnavailable(f"Google token endpoint failing: {error.args[0]}")
    return ProviderRejected(f"Google token refresh refused: {error.args[0]}", None, code or "")


def call_google(retry: RetryPolicy, action: Callable[[], T], operation: str) -> T:
    """Run one Google API call under ``retry``; whatever still fails leaves as our error.

    Args:
        retry: retries for 429, rate-limit 403s, 5xx and connection errors.
        action: the call (``request.execute(num_retries=0)``: ``retry`` does the retrying).
        operation: the call's name in error messages (``events.list``, ``channels.stop``...).
    """
    try:
        return retry.call(action, is_transient=is_transient, retry_after_of=retry_after_of)
    except HttpError as error:
        raise translate_http_error(error, operation) from None
    except RefreshError as error:
        raise translate_refresh_error(error) from None
    except TRANSPORT_ERRORS as error:
        raise ProviderUnavailable(f"Google {operation}: unreachable: {error!r}") from None
    except (GoogleApiClientError, ValueError) as error:
        # A 2xx answer the client could not read (not JSON, or not the expected shape).
        raise ProviderUnavailable(f"Google {operation} answered unreadably: {error!r}") from None
