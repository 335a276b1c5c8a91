"""Reading a JSON request body defensively: whatever a client sends ends in a 4xx, never a 500."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from ingest.errors import ApiError

#: Deepest nesting of arrays and objects accepted; real payloads need fewer than 10 levels.
MAX_DEPTH = 32


def refuse_oversized_body() -> None:
    """413 when the declared body is over ``MAX_CONTENT_LENGTH``, even if it is never read."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge()


def require_json_content_type() -> None:
    """415 unless the request says ``Content-Type: application/json``."""
    if request.mimetype != "application/json":
        shown = request.mimetype or "none"
        raise ApiError(
            415, "unsupported_media_type", f"send Content-Type: application/json, not {shown}"
        )


def decode_json_object(raw: bytes) -> dict[str, Any]:
    """Decode ``raw`` as one JSON object.

    Raises:
        ApiError: 400 ``invalid_json`` for anything else: not UTF-8, not JSON, ``NaN``,
            numbers too long to convert, nesting deeper than :data:`MAX_DEPTH`, or a value
            that is not an object.
    """
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad UTF-8, bad JSON and over-long integers.
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {_short(exc)}") from None
    if _depth_exceeds(value, MAX_DEPTH):
        raise ApiError(400, "invalid_json", f"the body nests deeper than {MAX_DEPTH} levels")
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return value


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _depth_exceeds(value: Any, limit: int) -> bool:
    # Iterative, so a hostile document cannot exhaust the stack here either.
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if not isinstance(node, dict | list):
            continue
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        pending.extend((child, depth + 1) for child in children)
    return False


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"
