"""Bearer API keys: each key belongs to one account, and a request only ever sees that account."""

from __future__ import annotations

from flask import current_app, g, request

from ingest.errors import ApiError
from ingest.ports import IngestPorts


def require_account() -> None:
    """``before_request`` hook: resolve the bearer key to ``g.account_id`` or answer 401."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <account API key>'")
    ports: IngestPorts = current_app.extensions["calsync"]
    account_id = ports.accounts.account_for_key(key.strip())
    if account_id is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key")
    g.account_id = account_id
