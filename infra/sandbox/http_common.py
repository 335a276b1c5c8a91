"""Request plumbing both sandbox apps share: JSON bodies, fault hooks, the logged user."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import Response, request

from infra.sandbox.errors import ApiError
from infra.sandbox.faults import FaultPlan
from infra.sandbox.request_log import ADMIN_PREFIX, USER_ENVIRON_KEY

#: Builds the provider's error for an injected status, given the ``Retry-After`` to send.
FaultErrorFactory = Callable[[int, int | None], ApiError]

#: ``Retry-After`` sent with injected 429/503 unless the fault says otherwise. One second,
#: not zero: kiota's retry handler treats ``Retry-After: 0`` as absent and falls back to
#: its own backoff (three seconds and more).
DEFAULT_RETRY_AFTER = 1


def json_body() -> dict[str, Any]:
    """The request's JSON object body; 400 ``parseError`` when it is not one."""
    if not request.get_data():
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "parseError", "Parse Error")
    return body


def set_logged_user(user: str | None) -> None:
    """Tell the request log which user the current call acted for."""
    request.environ[USER_ENVIRON_KEY] = user


def fault_hook(
    faults: FaultPlan, is_api: Callable[[str], bool], make_error: FaultErrorFactory
) -> Callable[[], None]:
    """A ``before_request`` hook that applies latency and status faults to provider calls."""

    def apply_faults() -> None:
        path = request.path
        if path.startswith(ADMIN_PREFIX):
            return
        delay = faults.take_latency(path, is_api(path))
        if delay:
            time.sleep(delay)
        fault = faults.take_status(request.method, path, is_api(path))
        if fault is not None:
            retry_after = fault.retry_after
            if retry_after is None and fault.status in (429, 503):
                retry_after = DEFAULT_RETRY_AFTER
            raise make_error(fault.status, retry_after)

    return apply_faults


def answer_delay_hook(
    faults: FaultPlan, is_api: Callable[[str], bool]
) -> Callable[[Response], Response]:
    """An ``after_request`` hook that holds back answers to provider calls whose change is
    already made (latency faults armed with ``after``)."""

    def delay_answer(response: Response) -> Response:
        path = request.path
        if not path.startswith(ADMIN_PREFIX):
            delay = faults.take_latency(path, is_api(path), after=True)
            if delay:
                time.sleep(delay)
        return response

    return delay_answer


def retry_after_headers(retry_after: int | None) -> dict[str, str]:
    """``Retry-After`` as a header dict, or nothing."""
    return {} if retry_after is None else {"Retry-After": str(retry_after)}
