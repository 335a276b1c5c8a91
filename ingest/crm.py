"""``POST /crm/events``: appointment and directory saves and deletions from the CRM.

The event is authenticated (signature over the raw body), validated, and queued whole
under a message id derived from its id: a repeated event is accepted again and the
consumer's inbox drops the copy, so the CRM can retry without fear.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from adapters.broker import topology
from adapters.broker.envelope import Envelope, MessageType, message_id_for
from ingest import signature
from ingest.crm_schema import first_problem
from ingest.crm_text import first_unstorable_text
from ingest.errors import ApiError
from ingest.json_body import decode_json_object, require_json_content_type
from ingest.ports import IngestPorts
from ingest.publishing import publish, trace_id

bp = Blueprint("crm", __name__)

SIGNATURE_HEADER = "X-Calsync-Signature"
#: Events the worker takes for an account it has not seen yet: it makes the account
#: (``crm_store.ensure_account``). Every other event needs an account that exists.
ACCOUNT_MAKING_TYPES = frozenset({"user.saved", "contact.saved", "company.saved"})


@bp.post("/crm/events")
def crm_event() -> tuple[Response, int]:
    """Queue one signed, valid CRM event and answer 202 with its id."""
    raw = _authentic_body()
    require_json_content_type()
    event = decode_json_object(raw)
    # Text first: a NUL or lone surrogate would break the message id and every store.
    problem = first_unstorable_text(event) or first_problem(event)
    if problem is not None:
        raise ApiError(400, "invalid_event", problem)
    _require_known_account(event)
    envelope = Envelope(
        id=message_id_for(event["account_id"], event["id"]),
        type=MessageType.CRM_EVENT,
        account_id=event["account_id"],
        trace_id=trace_id(),
        payload=event,
    )
    publish(envelope, topology.CRM)
    return jsonify({"id": event["id"]}), 202


def _require_known_account(event: dict[str, Any]) -> None:
    """404 for an event the worker could only dead-letter: its account does not exist."""
    ports: IngestPorts = current_app.extensions["calsync"]
    if ports.known_accounts is None or event["type"] in ACCOUNT_MAKING_TYPES:
        return
    if not ports.known_accounts.exists(event["account_id"]):
        raise ApiError(404, "unknown_account", f"no account {event['account_id']!r}")


def _authentic_body() -> bytes:
    """The raw body, once its signature checks out; 401 otherwise."""
    ports: IngestPorts = current_app.extensions["calsync"]
    header = request.headers.get(SIGNATURE_HEADER)
    try:
        # Header and clock first: a stale or unsigned request is refused before its body is read.
        parsed = signature.fresh_header(header, now=ports.clock().timestamp())
        raw = request.get_data(cache=True)
        signature.verify_body(parsed, raw, ports.crm_signing_secret)
    except signature.SignatureError as exc:
        raise ApiError(401, "invalid_signature", str(exc)) from None
    return raw
