"""``GET /api/v1/users/{user_id}/events/{event_id}/explanation``: synced, or which rule kept
the event out, as of the last sync that saw it (R36).

Bearer key of the account like the rest of ``/api/v1``: another account's user, or an
event of another account, answers 404 exactly like a missing one.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify

from adapters.sql.explanations import NoSuchUser
from domain.explanations import Explanation
from ingest.auth import require_account
from ingest.errors import ApiError
from ingest.identifiers import is_id_text
from ingest.ports import IngestPorts

bp = Blueprint("explanations_api", __name__, url_prefix="/api/v1")
bp.before_request(require_account)

#: Longest event id a provider gives (the store's column); longer ones were never seen.
MAX_EVENT_ID = 1024


@bp.get("/users/<user_id>/events/<path:event_id>/explanation")
def explain_event(user_id: str, event_id: str) -> Response:
    ports: IngestPorts = current_app.extensions["calsync"]
    if ports.explanations is None:
        raise ApiError(409, "not_available", "explanations are not served here")
    if not is_id_text(user_id):
        raise ApiError(404, "not_found", f"no user {user_id!r}")
    # An id no provider makes (a control character, longer than any) was never seen; the
    # lookup of the empty id, which no provider makes either, still tells a missing user.
    seen = is_id_text(event_id) and len(event_id) <= MAX_EVENT_ID
    try:
        found = ports.explanations.explain(g.account_id, user_id, event_id if seen else "")
    except NoSuchUser:
        raise ApiError(404, "not_found", f"no user {user_id!r}") from None
    if found is None:
        raise ApiError(
            404, "not_found", f"no sync of user {user_id!r}'s calendar has seen event {event_id!r}"
        )
    return jsonify(explanation_json(found))


def explanation_json(explanation: Explanation) -> dict[str, object]:
    """The contract's explanation object (CONTRACT.md, "Added in v1.1")."""
    return {
        "event_id": explanation.event_id,
        "synced": explanation.synced,
        "appointment_id": explanation.appointment_id,
        "rule": explanation.rule,
        "reason": explanation.reason,
        "seen_at": explanation.seen_at.isoformat(),
    }
