"""Who may open the on-call console (issue 21), and what it never shows: a Flask test client
on the app ``calsync serve`` builds, over SQLite and PostgreSQL.

Refused: no sign-in, an account API key (as a bearer header or as the sign-in token), a
POST with a missing or forged CSRF token. A console session does not open ``/api/v1``.
Secrets in a dead letter's headers, body and error are redacted on the page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from adapters.sql import dead_letters
from adapters.sql.accounts import SqlAccounts
from adapters.sql.day_history import SqlLagSamples
from adapters.sql.tables import dead_letters as parked
from domain.clock import system_clock
from infra.bootstrap import Container
from tests.support.console import TOKEN, console_container, csrf_of, sign_in
from tests.support.operations_world import seed_operations

SECRETS = ("sekrit-bearer-123", "sekrit-refresh-456", "sekrit-inline-789", "sekrit-error-000")


@pytest.fixture
def container(store: sa.Engine, tmp_path: Path) -> Iterator[Container]:
    now = system_clock()
    seed_operations(store, now)
    with store.begin() as conn:
        dead_letters.park(conn, _secret_letter(now - timedelta(minutes=7)))
    built = console_container(store, tmp_path / "var")
    yield built
    built.close()


@pytest.fixture
def client(container: Container) -> FlaskClient:
    return container.http_app().test_client()


def _secret_letter(at: object) -> dead_letters.DeadLetter:
    body = {"payload": {"refresh_token": SECRETS[1]}, "note": f"token={SECRETS[2]}"}
    return dead_letters.DeadLetter(
        queue="crm",
        reason="permanent_error",
        headers={"authorization": f"Bearer {SECRETS[0]}", "x-kind": "crm.event"},
        body=json.dumps(body).encode(),
        attempts=1,
        first_failed_at=at,  # type: ignore[arg-type]
        last_failed_at=at,  # type: ignore[arg-type]
        parked_at=at,  # type: ignore[arg-type]
        error_class="workers.errors.Permanent",
        error_message=f"refused: access_token={SECRETS[3]}",
        account_id="a",
        message_id="m-secret",
    )


def _letter_ids(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(int(i) for i in conn.execute(sa.select(parked.c.id)).scalars())


def test_without_sign_in_every_page_sends_to_the_sign_in_and_every_post_is_refused(
    client: FlaskClient,
) -> None:
    for path in ("/console/", "/console/dead-letters", "/console/connections"):
        answer = client.get(path)
        assert answer.status_code == 303
        assert answer.headers["Location"].startswith("/console/signin?next=")
    refused = client.post("/console/dead-letters/act", data={"action": "purge", "id": "1"})
    assert refused.status_code == 403


def test_an_account_api_key_opens_neither_the_console_nor_its_sign_in(
    client: FlaskClient, store: sa.Engine
) -> None:
    key = SqlAccounts(store).rotate_key("a")

    as_bearer = client.get("/console/", headers={"Authorization": f"Bearer {key}"})
    assert as_bearer.status_code == 303  # to the sign-in page: a key is not a session

    form = client.get("/console/signin")
    as_token = client.post(
        "/console/signin", data={"csrf": csrf_of(form.text), "token": key, "operator": "x"}
    )
    assert as_token.status_code == 403
    assert "calsync_console=" not in as_token.headers.get("Set-Cookie", "")


def test_sign_in_sets_a_secure_httponly_strict_cookie_scoped_to_the_console(
    client: FlaskClient,
) -> None:
    form = client.get("/console/signin")
    answer = client.post(
        "/console/signin",
        data={"csrf": csrf_of(form.text), "token": TOKEN, "operator": "tess", "next": "//evil"},
    )
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/console"  # never off-site
    cookie = next(c for c in answer.headers.getlist("Set-Cookie") if "calsync_console=" in c)
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"secure", "httponly", "samesite", "path"} <= attributes
    assert "SameSite=Strict" in cookie
    assert "Path=/console" in cookie
    assert client.get("/console/").status_code == 200


def test_sign_in_without_the_forms_csrf_token_is_refused(client: FlaskClient) -> None:
    client.get("/console/signin")
    answer = client.post("/console/signin", data={"token": TOKEN, "operator": "tess"})
    assert answer.status_code == 403


def test_a_forged_or_missing_csrf_token_is_refused_and_nothing_happens(
    client: FlaskClient, store: sa.Engine
) -> None:
    sign_in(client)
    before = _letter_ids(store)
    target = {"action": "purge", "id": str(before[0])}

    missing = client.post("/console/dead-letters/act", data=target)
    forged = client.post("/console/dead-letters/act", data={**target, "csrf": "0" * 64})
    other = client.post("/console/dead-letters/act", data={**target, "csrf": "é" * 64})

    assert (missing.status_code, forged.status_code, other.status_code) == (403, 403, 403)
    assert _letter_ids(store) == before
    page = client.get("/console/dead-letters")
    done = client.post("/console/dead-letters/act", data={**target, "csrf": csrf_of(page.text)})
    assert done.status_code == 303
    assert _letter_ids(store) == before[1:]


def test_a_console_session_does_not_open_the_read_api(client: FlaskClient) -> None:
    sign_in(client)
    cookie = client.get_cookie("calsync_console", path="/console")
    assert cookie is not None
    answer = client.get(
        "/api/v1/connections", headers={"Cookie": f"calsync_console={cookie.value}"}
    )
    assert answer.status_code == 401


def test_a_session_of_a_token_taken_out_of_the_list_ends(
    client: FlaskClient, store: sa.Engine, tmp_path: Path
) -> None:
    sign_in(client)
    cookie = client.get_cookie("calsync_console", path="/console")
    assert cookie is not None
    other = console_container(store, tmp_path / "var")
    object.__setattr__(other.settings, "console_tokens", ("another-operators-token-xyz",))
    try:
        later = other.http_app().test_client()
        later.set_cookie("calsync_console", cookie.value, path="/console")
        assert later.get("/console/").status_code == 303
    finally:
        other.close()


def test_secrets_never_reach_a_page(client: FlaskClient, store: sa.Engine) -> None:
    sign_in(client)
    letter_id = _letter_ids(store)[-1]
    pages = [
        client.get(f"/console/dead-letters/{letter_id}").text,
        client.get("/console/dead-letters?state=any").text,
        client.get("/console/").text,
    ]
    assert "crm.event" in pages[0]  # the headers are shown, only their secrets are not
    for page in pages:
        for secret in SECRETS:
            assert secret not in page


def test_the_overview_shows_the_status_report_and_two_inline_plots(
    client: FlaskClient, store: sa.Engine
) -> None:
    now = system_clock()
    samples = SqlLagSamples(store)
    for minutes in (20, 10, 0):
        samples.record(now - timedelta(minutes=minutes))
    sign_in(client)

    page = client.get("/console/")

    assert page.status_code == 200
    assert page.text.count("<svg") == 2
    assert "renew_channels" in page.text
    assert "ProviderUnavailable: 503" in page.text
    assert "retries_exhausted" in page.text  # the sync letter's reason, as dlq stats gives it
    assert "nonce-" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"


def test_without_operator_tokens_there_is_no_console(store: sa.Engine, tmp_path: Path) -> None:
    built = console_container(store, tmp_path / "var")
    object.__setattr__(built.settings, "console_tokens", ())
    try:
        assert built.http_app().test_client().get("/console/signin").status_code == 404
    finally:
        built.close()


def test_the_sample_lag_job_measures_every_connection_that_can_lag_and_keeps_two_days(
    container: Container, store: sa.Engine
) -> None:
    now = system_clock()
    samples = SqlLagSamples(store)
    samples.record(now - timedelta(days=3))

    samples.record(now)  # the operations world: 5 connections not disconnected, 3 behind

    (sample,) = samples.since(now - timedelta(days=4))
    assert (sample.connections, sample.lagging) == (5, 3)
    assert 7200 <= sample.max_lag_seconds < 7200 + 60  # cai, asked 2 hours ago
    assert sample.avg_lag_seconds == pytest.approx((7200 + 600 + 90) / 5, abs=60)


def test_a_malformed_action_is_refused_with_a_page(client: FlaskClient) -> None:
    sign_in(client)
    csrf = csrf_of(client.get("/console/dead-letters").text)
    for form in ({"action": "purge", "id": "1;DROP"}, {"action": "explode", "id": "1"}):
        answer = client.post("/console/dead-letters/act", data={**form, "csrf": csrf})
        assert answer.status_code == 400
        assert "text/html" in answer.content_type
