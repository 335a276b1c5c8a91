"""schemathesis runs every operation of ``/openapi.json`` with all of its checks, once with
the account's API key and once with a key nobody has: the answers must be what the
document promises, and the document must promise what the code does.

Few examples per operation keep the whole run under a minute; the exclusions below are
each one class of schemathesis false positive, stated where it is made.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core import NotSet
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi import unregister_string_format

from adapters.sql.accounts import SqlAccounts
from infra import db
from ingest.crm import SIGNATURE_HEADER
from ingest.openapi import document
from ingest.signature import MAX_HEADER_LENGTH, sign
from tests.fakes import RecordingPublisher
from tests.integration.test_ingest_support import ACCOUNT, CRM_SECRET, build_app, seed_connection

EXAMPLES = 8
KEYS = ("valid", "invalid")
CASES = [
    (path, method, mode)
    for path, item in document()["paths"].items()
    for method, operation in item.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    # Negative cases need an input to break; /healthz and the like have none.
    if mode is GenerationMode.POSITIVE or {"parameters", "requestBody"} & operation.keys()
]
#: negative_data_rejection cannot hold on Graph's routes, by Graph's contract: the
#: subscription handshake is echoed before the body is read (Graph waits 10 s and makes no
#: subscription without it), and a batch's items are judged one by one, the bad ones dropped
#: and counted, the batch still 202 (a refusal would only make Graph resend it).
GRAPH_ROUTES = ("/webhooks/microsoft", "/webhooks/microsoft/lifecycle")


#: The CRM event's own formats (``ingest.crm_schema.FORMATS``), which schemathesis cannot
#: know: a zone name, and an e-mail address as R1 reads one.
OWN_FORMATS = {
    "time-zone": st.sampled_from(["UTC", "Europe/Stockholm", "America/New_York", "Asia/Tokyo"]),
    "email": st.from_regex(r"[a-z][a-z0-9]{0,10}@[a-z]{1,10}\.(se|com)", fullmatch=True),
}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaseSchema]:
    for name, strategy in OWN_FORMATS.items():
        schemathesis.openapi.format(name, strategy)
    yield _schema(tmp_path_factory)
    for name in OWN_FORMATS:
        unregister_string_format(name)


def _schema(tmp_path_factory: pytest.TempPathFactory) -> BaseSchema:

    engine = db.create_engine(f"sqlite:///{tmp_path_factory.mktemp('st')}/calsync.sqlite3")
    db.upgrade(engine)
    app, channels = build_app(engine, RecordingPublisher())
    seed_connection(engine, "conn-karl", "google")
    channels.register("chan-st-1", "conn-karl", "google", "token-st-1")
    app.config["ST_KEYS"] = {"valid": SqlAccounts(engine).rotate_key(ACCOUNT), "invalid": "csk_x"}
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize(("path", "method", "mode"), CASES)
def test_every_operation_answers_as_documented(
    api_schema: BaseSchema, path: str, method: str, mode: GenerationMode, key: str
) -> None:
    if key == "invalid" and not path.startswith("/api/v1"):
        pytest.skip("only /api/v1 takes an API key")
    strategy = api_schema[path][method.upper()].as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE:
        strategy = strategy.map(with_documented_relations)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def answers_as_documented(case: schemathesis.Case) -> None:
        case.call_and_validate(excluded_checks=exclusions(case), **credentials(case, key))

    answers_as_documented()


def exclusions(case: schemathesis.Case) -> list[Any]:
    if case.path in GRAPH_ROUTES or _undeclared_query(case):
        return [schemathesis.checks.negative_data_rejection]
    return []


def _undeclared_query(case: schemathesis.Case) -> bool:
    # Unknown query parameters are ignored, as HTTP APIs do (caches and proxies add some);
    # OpenAPI has no way to say so, and schemathesis counts an unknown one as invalid.
    operation = document()["paths"][case.operation.path][case.method.lower()]
    declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
    return isinstance(case.query, dict) and not set(case.query) <= declared


def with_documented_relations(case: schemathesis.Case) -> schemathesis.Case:
    """Put right what the document says in words and JSON Schema cannot say: 'to' is later
    than 'from', an availability period lies in the years 1970 to 2999, and a CRM
    appointment does not end before it starts."""
    data = case.body.get("data") if isinstance(case.body, dict) else None
    if isinstance(data, dict) and "start" in data and "end" in data:
        data["end"] = data["start"]
    query = case.query if isinstance(case.query, dict) else {}
    if "from" not in query or "to" not in query:
        return case
    start = _instant(query["from"])
    if start is None:
        return case
    if case.path.endswith("/availability"):
        # Day 28 at most: 29 February is in no year but a leap year.
        start = start.replace(year=min(max(start.year, 1970), 2998), day=min(start.day, 28))
        query["from"] = start.isoformat()
    end = _instant(query["to"])
    if end is None or end <= start or case.path.endswith("/availability"):
        query["to"] = (start + timedelta(hours=1)).isoformat()
    return case


def _instant(raw: str) -> datetime | None:
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        return None


def _signs(case: schemathesis.Case) -> bool:
    # A signature header the case left out or made too long is what the case tests: keep it.
    headers: dict[str, Any] = dict(case.headers or {})
    sent = headers.get(SIGNATURE_HEADER)
    fits = isinstance(sent, str) and len(sent) <= MAX_HEADER_LENGTH
    return fits and not isinstance(case.body, NotSet)


def credentials(case: schemathesis.Case, key: str) -> dict[str, Any]:
    """The API key asked for, and a real signature over the CRM body that will be sent."""
    if case.path.startswith("/api/v1"):
        presented = case.operation.app.config["ST_KEYS"][key]
        return {"headers": {"Authorization": f"Bearer {presented}"}}
    if case.path == "/crm/events" and _signs(case):
        raw = case.body if isinstance(case.body, bytes) else json.dumps(case.body).encode()
        now = int(time.time())
        return {
            "data": raw,
            "headers": {"X-Calsync-Signature": f"t={now},v1={sign(CRM_SECRET, now, raw)}"},
        }
    return {}
