"""When the buffering gthread worker hands a request to a thread, and its JSON error answers."""

from __future__ import annotations

import json

import pytest

from infra.gunicorn_worker import MAX_BUFFERED_BODY, json_error_body, request_is_buffered

MAX_HEAD = 20_000
HEAD = b"POST /crm/events HTTP/1.1\r\nHost: x\r\n"


@pytest.mark.parametrize(
    "data",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        HEAD + b"Content-Length: 5\r\n\r\nhello",
        HEAD + b"content-length:5\r\n\r\nhello, and the next request",
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n",  # the thread reads chunks itself
        HEAD + b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\n",  # body after an answer
        HEAD + f"Content-Length: {MAX_BUFFERED_BODY + 1}\r\n\r\n".encode(),  # refused unread
        HEAD + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n",  # the parser refuses it
        b"GET /" + b"a" * MAX_HEAD,  # too long: the parser answers 414 from the buffer
    ],
)
def test_a_thread_takes_a_complete_or_unbufferable_request(data: bytes) -> None:
    assert request_is_buffered(data, MAX_HEAD)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GET /healthz HTTP/1.1\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow-1: a\r\n",
        HEAD + b"Content-Length: 5\r\n\r\nhell",
        HEAD + b"Content-Length: 5\r\nX-Other: b\r\n\r\nhell",
    ],
)
def test_the_poller_keeps_an_incomplete_request(data: bytes) -> None:
    assert not request_is_buffered(data, MAX_HEAD)


def test_error_bodies_are_the_applications_json_named_after_the_status() -> None:
    assert json.loads(json_error_body(431, "too many headers")) == {
        "error": {"code": "request_header_fields_too_large", "message": "too many headers"}
    }
    assert json.loads(json_error_body(414, "x"))["error"]["code"] == "request_uri_too_long"
