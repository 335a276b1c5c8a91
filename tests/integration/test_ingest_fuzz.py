"""Whatever a client sends, ingest answers 2xx, 4xx or 503, never 500, and queues nothing
for a request it refuses. Hypothesis drives the webhooks; schemathesis drives every route
from ``/openapi.json`` and checks the answers against it.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from flask import Flask
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core import NotSet
from schemathesis.schemas import BaseSchema

from adapters.sql.accounts import SqlAccounts
from ingest.openapi import document
from ingest.signature import sign
from tests.fakes import RecordingPublisher
from tests.integration.test_ingest_support import ACCOUNT, CRM_SECRET, build_app, seed_connection

GOOGLE_CHANNEL, GOOGLE_TOKEN = "chan-fuzz-1", "token-fuzz-1"
GRAPH_SUB, GRAPH_STATE = "sub-fuzz-1", "state-fuzz-1"

FUZZ = settings(
    max_examples=120,
    deadline=None,
    # The app and its store are built once per test and shared by its examples; no
    # example writes to the store, and the publisher is cleared before each one.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: What a WSGI header value can hold: Latin-1 without line breaks.
header_text = st.text(
    st.characters(min_codepoint=0, max_codepoint=255, exclude_characters="\r\n"), max_size=80
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=15,
)


def header(valid: str) -> st.SearchStrategy[str | None]:
    """Absent, the genuine value, a near miss, or anything at all."""
    return st.one_of(
        st.none(),
        st.just(valid),
        st.just(valid + " "),
        st.just(valid.upper()),
        st.just("x" * 20_000),
        header_text,
    )


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def app(store: sa.Engine, publisher: RecordingPublisher) -> Flask:
    app, channels = build_app(store, publisher)
    seed_connection(store, "conn-karl", "google")
    seed_connection(store, "conn-lucas", "microsoft", user_id="lucas")
    channels.register(GOOGLE_CHANNEL, "conn-karl", "google", GOOGLE_TOKEN)
    channels.register(GRAPH_SUB, "conn-lucas", "microsoft", GRAPH_STATE)
    return app


def assert_refused_or_queued(response: Any, publisher: RecordingPublisher, ok: int) -> None:
    assert response.status_code in {ok, 400, 401, 404, 413, 415, 503}, response.get_data()
    if response.status_code == ok:
        assert publisher.published, "a 2xx must mean something was queued"
    else:
        assert response.get_json()["error"]["code"]
        assert publisher.published == [], "a refused request queued something"


@FUZZ
@given(
    sent=st.fixed_dictionaries(
        {
            "X-Goog-Channel-ID": header(GOOGLE_CHANNEL),
            "X-Goog-Channel-Token": header(GOOGLE_TOKEN),
            "X-Goog-Resource-ID": header("res-1"),
            "X-Goog-Resource-State": st.one_of(
                header("exists"), st.sampled_from(["sync", "not_exists", "add"])
            ),
            "X-Goog-Message-Number": st.one_of(header("7"), st.integers().map(str)),
        }
    ),
    broker_up=st.booleans(),
)
@example(
    sent={
        "X-Goog-Channel-ID": GOOGLE_CHANNEL,
        "X-Goog-Channel-Token": GOOGLE_TOKEN,
        "X-Goog-Resource-ID": "res-1",
        "X-Goog-Resource-State": "exists",
        "X-Goog-Message-Number": "7",
    },
    broker_up=True,
)
def test_google_headers(
    app: Flask, publisher: RecordingPublisher, sent: dict[str, str | None], broker_up: bool
) -> None:
    publisher.clear()
    publisher.fail = not broker_up

    response = app.test_client().post(
        "/webhooks/google", headers={k: v for k, v in sent.items() if v is not None}
    )

    assert_refused_or_queued(response, publisher, ok=200)


def valid_event() -> dict[str, Any]:
    return {
        "id": "evt-1",
        "type": "appointment.saved",
        "account_id": ACCOUNT,
        "occurred_at": "2026-12-01T08:00:00Z",
        "data": {
            "id": "a1",
            "organizer_user_id": "karl",
            "start": "2026-12-01T09:00:00+01:00",
            "end": "2026-12-01T10:00:00+01:00",
            "emails": ["eva@kund.se"],
            "video": None,
        },
    }


@st.composite
def crm_bodies(draw: st.DrawFn) -> bytes:
    """Raw bytes, arbitrary JSON, or a valid event with one field replaced or removed."""
    kind = draw(st.sampled_from(["bytes", "json", "mutated", "valid"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    event = valid_event()
    if kind == "mutated":
        target = draw(st.sampled_from([event, event["data"]]))
        key = draw(st.sampled_from(sorted(target)))
        if draw(st.booleans()):
            target[key] = draw(json_values)
        else:
            del target[key]
    return json.dumps(event).encode()


@st.composite
def signatures(draw: st.DrawFn, raw: bytes) -> str | None:
    kind = draw(st.sampled_from(["good", "skewed", "other-secret", "text", "none"]))
    now = int(time.time())
    if kind == "good":
        return f"t={now},v1={sign(CRM_SECRET, now, raw)}"
    if kind == "skewed":
        t = now + draw(st.integers(-1000, 1000))
        return f"t={t},v1={sign(CRM_SECRET, t, raw)}"
    if kind == "other-secret":
        return f"t={now},v1={sign('not-ours', now, raw)}"
    return draw(header_text) if kind == "text" else None


@FUZZ
@given(
    data=st.data(),
    content_type=st.sampled_from(
        ["application/json", "application/json; charset=utf-8", "text/plain"]
    ),
    broker_up=st.booleans(),
)
def test_crm_signature_and_body(
    app: Flask,
    publisher: RecordingPublisher,
    data: st.DataObject,
    content_type: str,
    broker_up: bool,
) -> None:
    publisher.clear()
    publisher.fail = not broker_up
    raw = data.draw(crm_bodies(), label="body")
    signature = data.draw(signatures(raw), label="signature")
    headers = {"X-Calsync-Signature": signature} if signature is not None else {}

    response = app.test_client().post(
        "/crm/events", data=raw, content_type=content_type, headers=headers
    )

    assert_refused_or_queued(response, publisher, ok=202)


@st.composite
def graph_items(draw: st.DrawFn) -> Any:
    item = {
        "subscriptionId": draw(st.sampled_from([GRAPH_SUB, GOOGLE_CHANNEL, "nobody", "\x00", ""])),
        "clientState": draw(st.sampled_from([GRAPH_STATE, "wrong", "\ud800", None])),
        "changeType": draw(st.sampled_from(["updated", "created,deleted", "", None])),
    }
    if draw(st.booleans()):
        item["lifecycleEvent"] = draw(st.sampled_from(["missed", "", 7]))
    return draw(st.one_of(st.just(item), json_values))


@FUZZ
@given(
    route=st.sampled_from(["/webhooks/microsoft", "/webhooks/microsoft/lifecycle"]),
    token=st.one_of(st.none(), st.text(max_size=30), st.just("t" * 1025)),
    body=st.one_of(
        st.lists(graph_items(), max_size=5).map(lambda items: json.dumps({"value": items})),
        json_values.map(json.dumps),
    ),
    broker_up=st.booleans(),
)
def test_graph_batches(
    app: Flask,
    publisher: RecordingPublisher,
    *,
    route: str,
    token: str | None,
    body: str,
    broker_up: bool,
) -> None:
    publisher.clear()
    publisher.fail = not broker_up
    query = {"validationToken": token} if token is not None else {}

    response = app.test_client().post(
        route, query_string=query, data=body, content_type="application/json"
    )

    if response.status_code == 200:
        assert response.get_data(as_text=True) == token
        assert publisher.published == []
    elif response.status_code == 202:
        # A batch with nothing valid in it is accepted too: there is nothing to retry.
        assert token is None
    else:
        assert_refused_or_queued(response, publisher, ok=202)


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/api/v1/appointments?user=%00", 400),
        ("/api/v1/appointments?contact=a%00b", 400),
        ("/api/v1/appointments?company=%1b", 400),
        ("/api/v1/appointments/a%00b", 404),
    ],
)
def test_control_characters_in_read_api_ids_are_refused(
    store: sa.Engine, url: str, status: int
) -> None:
    # PostgreSQL rejects NUL in text outright (a 500 before ids were checked).
    app = build_app(store, RecordingPublisher())[0]
    seed_connection(store, "conn-karl", "google")
    key = SqlAccounts(store).rotate_key(ACCOUNT)

    response = app.test_client().get(url, headers={"Authorization": f"Bearer {key}"})

    assert response.status_code == status


# --- schemathesis: every route, from the document ------------------------------------------
# schemathesis' own pytest loader (``schemathesis.pytest.from_fixture``) fails on pytest 9
# ("'Function' object has no attribute '_nodeid'"), so each operation's case strategy is
# driven with hypothesis directly; the checks are schemathesis' own.

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]
#: Every documented operation in both modes; negative cases need an input to break.
CASES = [
    (path, method, mode)
    for path, item in document()["paths"].items()
    for method, operation in item.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or {"parameters", "requestBody"} & operation.keys()
]


@pytest.fixture
def api_schema(store: sa.Engine) -> BaseSchema:
    app, channels = build_app(store, RecordingPublisher())
    seed_connection(store, "conn-karl", "google")
    channels.register(GOOGLE_CHANNEL, "conn-karl", "google", GOOGLE_TOKEN)
    app.config["FUZZ_API_KEY"] = SqlAccounts(store).rotate_key(ACCOUNT)
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


@pytest.mark.parametrize(("path", "method", "mode"), CASES)
def test_every_route_from_the_document(
    api_schema: BaseSchema, path: str, method: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method.upper()]

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def answers_as_documented(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=CHECKS, **_credentials(case))

    answers_as_documented()


def _credentials(case: schemathesis.Case) -> dict[str, Any]:
    """A real API key, and a real signature over the body that will be sent."""
    if case.path.startswith("/api/v1"):
        key = case.operation.app.config["FUZZ_API_KEY"]
        return {"headers": {"Authorization": f"Bearer {key}"}}
    if case.path == "/crm/events" and not isinstance(case.body, NotSet):
        raw = case.body if isinstance(case.body, bytes) else json.dumps(case.body).encode()
        now = int(time.time())
        return {
            "data": raw,
            "headers": {"X-Calsync-Signature": f"t={now},v1={sign(CRM_SECRET, now, raw)}"},
        }
    return {}
