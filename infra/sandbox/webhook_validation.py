"""Graph's endpoint validation: POST ``?validationToken=`` and expect the token echoed."""

from __future__ import annotations

import httpx

from infra.sandbox.errors import ApiError
from infra.sandbox.ids import guid
from infra.sandbox.outbound import OutboundHttp

#: Graph gives the endpoint this long to answer.
VALIDATION_TIMEOUT_SECONDS = 10.0


def new_token() -> str:
    """A token shaped like Graph's: spaces and colons, so it must be URL-decoded to echo."""
    return (
        f"Validation: Testing client application reachability for subscription Request-Id: {guid()}"
    )


def validate(url: str, http: OutboundHttp) -> None:
    """Run the handshake against ``url``.

    Raises:
        ApiError: 400 ``ValidationError`` unless the answer is 200, ``text/plain`` and the
            decoded token, within the timeout.
    """
    token = new_token()
    try:
        # Keep the address's own query string: Graph sends it back on every request.
        response = http.post(
            httpx.URL(url).copy_merge_params({"validationToken": token}),
            content=b"",
            headers={"Content-Type": "text/plain; charset=utf-8"},
            timeout=VALIDATION_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError:
        raise _failed(
            "Notification endpoint must respond with 200 OK to validation request."
        ) from None
    if response.status_code != 200:
        raise _failed("Notification endpoint must respond with 200 OK to validation request.")
    if not response.headers.get("content-type", "").startswith("text/plain"):
        raise _failed("Response must have Content-Type text/plain.")
    if response.text != token:
        raise _failed("Response must exactly match validationToken query parameter.")


def _failed(reason: str) -> ApiError:
    return ApiError(400, "ValidationError", f"Subscription validation request failed. {reason}")
