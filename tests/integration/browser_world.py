"""A live world for the browser connect tests, and a browser to walk through it.

Google runs on the plain-http sandbox (oauthlib needs ``OAUTHLIB_INSECURE_TRANSPORT=1`` for
that, its switch for local development); Microsoft on the https sandbox, because MSAL only
accepts https authorities: the sandbox's certificate is trusted through ``REQUESTS_CA_BUNDLE``
(MSAL, requests) and ``SSL_CERT_FILE`` (httpx, the Graph adapters).

The :class:`Browser` talks to our app through the Flask test client of an app on the
world's container (so every answer can be checked against ``/openapi.json``) and to the
sandbox over HTTP, following redirects and keeping cookies as a browser would. The world's
own ingest server still answers on ``CALSYNC_PUBLIC_URL`` (Graph's validation handshake
and the providers' notifications reach it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from adapters.sql.tables import oauth_attempts
from domain.model import Provider
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from tests.support.live_world import ACCOUNT, CLIENT, Json, World, live_world

#: Where google-auth-oauthlib sends the browser on the sandbox (as on accounts.google.com).
GOOGLE_AUTH_PATH = "/o/oauth2/auth"

Answer = TestResponse | requests.Response


@dataclass
class Hop:
    """One request the browser made: where, what came back, where it was sent next."""

    url: str
    status: int
    location: str | None


@dataclass
class BrowserWorld:
    """A live world for one provider, with an API key of the account."""

    world: World
    provider: Provider
    admin: SandboxAdminClient
    app: Flask
    api_key: str
    ca_file: str | None
    api: FlaskClient = field(init=False)

    def __post_init__(self) -> None:
        self.api = self.app.test_client()

    @property
    def public_url(self) -> str:
        return self.world.container.settings.public_url

    @property
    def admin_root(self) -> str:
        """The sandbox root of this provider."""
        sandbox = self.world.sandbox
        return sandbox.google_url if self.provider is Provider.GOOGLE else sandbox.graph_url

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def sandbox_user(self, email: str = "ann@example.com") -> Json:
        return self.admin.create_user(email)

    def request_link(self, user_id: str = "ann", **body: Any) -> TestResponse:
        sent = {"provider": self.provider.value, **body}
        return self.api.post(f"/api/v1/users/{user_id}/connect", json=sent, headers=self.auth)

    def link(self, user_id: str = "ann", **body: Any) -> str:
        response = self.request_link(user_id, **body)
        assert response.status_code == 201, response.get_json()
        return str(response.get_json()["authorization_url"])

    def status(self, user_id: str = "ann") -> TestResponse:
        return self.api.get(f"/api/v1/users/{user_id}/connection", headers=self.auth)

    def browser(self, accept: str = "application/json") -> Browser:
        return Browser(self, accept)

    def attempts(self) -> list[Any]:
        with self.world.container.engine.connect() as conn:
            return list(conn.execute(sa.select(oauth_attempts)))

    def expire_attempts(self) -> None:
        """Make every connect attempt expire (as ten minutes passing would)."""
        with self.world.container.engine.begin() as conn:
            conn.execute(
                oauth_attempts.update().values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )

    def replace_flow(self, change: Any) -> None:
        """Rewrite the stored (encrypted) flow of every started attempt with ``change``."""
        cipher = self.world.container.cipher
        with self.world.container.engine.begin() as conn:
            for row in conn.execute(sa.select(oauth_attempts.c.id, oauth_attempts.c.flow)):
                if row.flow is not None:
                    flow = change(cipher.decrypt(row.flow))
                    conn.execute(
                        oauth_attempts.update()
                        .where(oauth_attempts.c.id == row.id)
                        .values(flow=cipher.encrypt(flow))
                    )


class Browser:
    """Follows redirects between our app (Flask test client) and the sandbox (HTTP)."""

    def __init__(self, world: BrowserWorld, accept: str) -> None:
        self.world = world
        self.client = world.app.test_client()
        self.accept = accept
        self.http = requests.Session()
        self.http.verify = world.ca_file or True
        self.history: list[Hop] = []

    def step(self, url: str) -> Answer:
        """One request, no redirect followed."""
        ours = url.startswith(self.world.public_url + "/")
        if ours:
            answer: Answer = self.client.get(
                url.removeprefix(self.world.public_url), headers={"Accept": self.accept}
            )
        else:
            answer = self.http.get(
                url, headers={"Accept": self.accept}, allow_redirects=False, timeout=20
            )
        location = answer.headers.get("Location")
        self.history.append(Hop(url, answer.status_code, location))
        return answer

    def open(self, url: str, hops: int = 10) -> Answer:
        """Open ``url`` and follow redirects to the end."""
        answer = self.step(url)
        while answer.status_code in {301, 302, 303, 307, 308} and hops > 0:
            answer = self.step(str(answer.headers["Location"]))
            hops -= 1
        return answer

    def to_provider(self, link: str) -> str:
        """Open a connect link; returns where our app sent the browser (the consent page)."""
        answer = self.step(link)
        assert answer.status_code == 302, _body(answer)
        return str(answer.headers["Location"])

    def to_callback(self, link: str) -> str:
        """Open a connect link and consent; returns the callback URL, not opened yet."""
        answer = self.step(self.to_provider(link))
        assert answer.status_code == 302, _body(answer)
        location = str(answer.headers["Location"])
        assert location.startswith(self.world.public_url + "/oauth/"), location
        return location


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def with_query(url: str, **changes: str | None) -> str:
    query = {**query_of(url), **changes}
    kept = {k: v for k, v in query.items() if v is not None}
    return url.split("?", 1)[0] + "?" + urlencode(kept)


def error_code(answer: Answer) -> str:
    body = answer.get_json() if isinstance(answer, TestResponse) else answer.json()
    return str(body["error"]["code"])


def _body(answer: Answer) -> str:
    return answer.get_data(as_text=True) if isinstance(answer, TestResponse) else answer.text


def browser_world(
    provider: Provider,
    *,
    tmp_path: Path,
    plain_sandbox: SandboxServer,
    tls_sandbox: SandboxServer,
    broker_url: str,
    monkeypatch: pytest.MonkeyPatch,
    **extra: str,
) -> Iterator[BrowserWorld]:
    """The world for ``provider`` (see the module's docstring); the OAuth client registered."""
    if provider is Provider.GOOGLE:
        sandbox, ca_file, root = plain_sandbox, None, plain_sandbox.google_url
        monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    else:
        sandbox, ca_file, root = tls_sandbox, tls_sandbox.ca_file, tls_sandbox.graph_url
        assert ca_file is not None
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)
        monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    admin = SandboxAdminClient(root, verify=ca_file or True)
    settings = {"CALSYNC_GOOGLE_AUTH_URL": plain_sandbox.google_url + GOOGLE_AUTH_PATH, **extra}
    made = live_world(tmp_path, sandbox, {provider: admin}, broker_url, **settings)
    world = next(made)
    try:
        admin.register_oauth_client(CLIENT["id"], CLIENT["secret"])
        key = world.container.accounts.rotate_key(ACCOUNT)
        yield BrowserWorld(world, provider, admin, world.container.http_app(), key, ca_file)
    finally:
        made.close()
        admin.close()
