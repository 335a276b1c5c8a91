"""Google's batch endpoint (``POST /batch/calendar/v3``): several calls in one multipart body.

Each part is run through the app itself, so it is authenticated, fault-injected and logged
like a single call. Note that google-api-python-client builds the batch address from the
discovery document's ``rootUrl``, not from ``api_endpoint``: pass
``BatchHttpRequest(batch_uri=<sandbox>/batch/calendar/v3)`` or batches go to Google.
"""

from __future__ import annotations

from email.message import Message
from email.parser import BytesParser, Parser

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.http import HTTP_STATUS_CODES

from infra.sandbox.errors import ApiError
from infra.sandbox.ids import opaque_token

#: Google refuses batches with more calls than this.
MAX_CALLS = 1000


def blueprint() -> Blueprint:
    """``/batch/calendar/v3`` and the generic ``/batch``."""
    bp = Blueprint("google_batch", __name__)

    def batch() -> Response:
        """Run each part and answer a multipart/mixed body in the same order."""
        parts = _parts(request.headers.get("Content-Type", ""), request.get_data())
        boundary = f"batch_{opaque_token(12)}"
        chunks = [_answer(current_app, part, boundary) for part in parts]
        body = "".join(chunks) + f"--{boundary}--\r\n"
        return Response(body, content_type=f"multipart/mixed; boundary={boundary}")

    for path in ("/batch/calendar/v3", "/batch"):
        bp.add_url_rule(path, endpoint=path.replace("/", "_"), view_func=batch, methods=["POST"])
    return bp


def _parts(content_type: str, body: bytes) -> list[Message]:
    if not content_type.startswith("multipart/mixed"):
        raise ApiError(400, "badContent", "Batch requests must be multipart/mixed.")
    envelope = BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    parts = [part for part in envelope.get_payload() if isinstance(part, Message)]
    if not envelope.is_multipart() or not parts:
        raise ApiError(400, "badContent", "The batch has no parts.")
    if len(parts) > MAX_CALLS:
        raise ApiError(400, "badContent", f"A batch may hold at most {MAX_CALLS} calls.")
    return parts


def _answer(app: Flask, part: Message, boundary: str) -> str:
    """Run one embedded request and render it as one part of the reply."""
    request_line, _, rest = str(part.get_payload()).lstrip().partition("\n")
    method, target, _ = request_line.strip().split(" ", 2)
    inner = Parser().parsestr(rest)
    headers = [(name, value) for name, value in inner.items() if name.lower() != "host"]
    payload = inner.get_payload()
    data = payload.encode() if isinstance(payload, str) and payload else None
    response = app.test_client().open(target, method=method, headers=headers, data=data)
    content_id = (part.get("Content-ID") or "<+>").strip("<>")
    status = f"{response.status_code} {HTTP_STATUS_CODES.get(response.status_code, '')}"
    return (
        f"--{boundary}\r\nContent-Type: application/http\r\n"
        f"Content-ID: <response-{content_id}>\r\n\r\n"
        f"HTTP/1.1 {status}\r\nContent-Type: {response.content_type}\r\n\r\n"
        f"{response.get_data(as_text=True)}\r\n"
    )
