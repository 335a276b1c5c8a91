"""One JSON envelope for every message on the broker.

A message is a hint or a command, never a provider's event data: a Google or Graph
notification says which connection to sync; the worker reads what changed itself.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.clock import system_clock

#: Bump when the envelope's shape changes; consumers refuse versions they do not know.
SCHEMA_VERSION = 1
#: Namespace of message ids derived from outside ids (CRM event ids), so a repeat of the
#: same event carries the same message id and the consumer's inbox absorbs it.
MESSAGE_ID_NAMESPACE = uuid.UUID("6f1c8a52-3b9e-4d0a-9a57-2f3c1d7e9b40")


class MessageType:
    """The ``type`` of an envelope, which decides its queue and its handler."""

    GOOGLE_NOTIFICATION = "google.notification"
    GRAPH_NOTIFICATION = "graph.notification"
    GRAPH_LIFECYCLE = "graph.lifecycle"
    CRM_EVENT = "crm.event"
    SYNC_REQUESTED = "sync.requested"
    WRITEBACK_REQUESTED = "writeback.requested"


class EnvelopeError(ValueError):
    """A message body is not a valid envelope; the message can never be processed."""


@dataclass(frozen=True)
class Envelope:
    type: str
    payload: dict[str, Any]
    account_id: str | None = None
    connection_id: str | None = None
    trace_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    received_at: datetime = field(default_factory=system_clock)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "id": self.id,
                "type": self.type,
                "schema_version": self.schema_version,
                "account_id": self.account_id,
                "connection_id": self.connection_id,
                "received_at": self.received_at.isoformat(),
                "trace_id": self.trace_id,
                "payload": self.payload,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, body: bytes | str) -> Envelope:
        """Decode and check an envelope.

        Raises:
            EnvelopeError: not JSON, a field missing or of the wrong type, or an unknown
                schema version. The message cannot be processed however often it is retried.
        """
        try:
            raw = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise EnvelopeError(f"not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise EnvelopeError("not a JSON object")
        return cls(
            id=_text(raw, "id"),
            type=_text(raw, "type"),
            schema_version=_version(raw),
            account_id=_optional_text(raw, "account_id"),
            connection_id=_optional_text(raw, "connection_id"),
            received_at=_instant(raw),
            trace_id=_text(raw, "trace_id"),
            payload=_payload(raw),
        )


def message_id_for(*parts: str) -> str:
    """A stable message id for an outside identity (e.g. account and CRM event id)."""
    return uuid.uuid5(MESSAGE_ID_NAMESPACE, "\x1f".join(parts)).hex


def _text(raw: dict[str, Any], name: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value or len(value) > 255:
        raise EnvelopeError(f"'{name}' must be a non-empty string of at most 255 characters")
    return value


def _optional_text(raw: dict[str, Any], name: str) -> str | None:
    return None if raw.get(name) is None else _text(raw, name)


def _version(raw: dict[str, Any]) -> int:
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise EnvelopeError(
            f"unknown schema_version {version!r}; this worker reads {SCHEMA_VERSION}"
        )
    return SCHEMA_VERSION


def _instant(raw: dict[str, Any]) -> datetime:
    text = _text(raw, "received_at")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise EnvelopeError(f"'received_at' is not an ISO 8601 date-time: {text!r}") from None
    if value.tzinfo is None:
        raise EnvelopeError("'received_at' needs a UTC offset")
    return value


def _payload(raw: dict[str, Any]) -> dict[str, Any]:
    payload = raw.get("payload")
    if not isinstance(payload, dict):
        raise EnvelopeError("'payload' must be a JSON object")
    return payload
