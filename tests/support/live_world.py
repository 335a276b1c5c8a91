"""A live world for connection tests: the sandbox providers, a container on a fresh SQLite
store, RabbitMQ, and our own ingest app serving ``CALSYNC_PUBLIC_URL`` (so Graph's handshake
and the providers' notifications reach the real webhook views)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from werkzeug.serving import make_server

from adapters.broker.envelope import Envelope
from adapters.directory_file import parse_directory
from adapters.sql.tables import push_channels
from domain.model import Provider
from infra import db
from infra.bootstrap import Container
from infra.connect import ConnectResult, connect_calendar
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import QuietRequestHandler, SandboxServer
from infra.settings import Settings
from tests.support.broker import drain

Json = dict[str, Any]
ACCOUNT = "acme"
CLIENT = {"id": "calsync-test", "secret": "test-secret"}


class _LateApp:
    """A WSGI app set after the server is bound (the app's settings need the server's port)."""

    app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


@dataclass
class World:
    """A container on a fresh store, its ingest app serving the public URL, and the sandbox."""

    container: Container
    sandbox: SandboxServer
    admins: dict[Provider, SandboxAdminClient]
    broker_url: str
    db_path: Path

    def connect(self, provider: Provider, user_id: str, refresh_token: str) -> ConnectResult:
        return connect_calendar(
            self.container,
            provider=provider,
            account_id=ACCOUNT,
            user_id=user_id,
            refresh_token=refresh_token,
        )

    def channel_rows(self) -> list[Any]:
        with self.container.engine.connect() as conn:
            return list(conn.execute(sa.select(push_channels).order_by(push_channels.c.created_at)))

    def store_bytes(self) -> bytes:
        files = [self.db_path, self.db_path.with_name(self.db_path.name + "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists())

    def wait_for(self, wanted: Callable[[Envelope], bool], timeout: float = 10.0) -> list[Envelope]:
        """Drain the sync queue until a message ``wanted`` arrived; returns all drained."""
        seen: list[Envelope] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen += [envelope for _props, envelope in drain(self.broker_url, "sync", wait=0.2)]
            if any(wanted(e) for e in seen):
                return seen
        raise AssertionError(f"no wanted message on the sync queue; saw {seen}")


def world_settings(
    tmp_path: Path, sandbox: SandboxServer, broker: str, public: str, **extra: str
) -> Settings:
    env = {
        "CALSYNC_VAR_DIR": str(tmp_path / "var"),
        "CALSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'calsync.sqlite3'}",
        "CALSYNC_BROKER_URL": broker,
        "CALSYNC_PUBLIC_URL": public,
        "CALSYNC_SECRET_KEY": secrets.token_urlsafe(32),
        "CALSYNC_CRM_SIGNING_SECRET": secrets.token_urlsafe(32),
        "CALSYNC_GOOGLE_API_URL": sandbox.google_url + "/",
        "CALSYNC_GOOGLE_TOKEN_URL": sandbox.google_token_url,
        "CALSYNC_GRAPH_API_URL": sandbox.graph_api_url,
        "CALSYNC_MICROSOFT_TOKEN_URL": sandbox.graph_token_url(),
        "CALSYNC_GOOGLE_CLIENT_ID": CLIENT["id"],
        "CALSYNC_GOOGLE_CLIENT_SECRET": CLIENT["secret"],
        "CALSYNC_MICROSOFT_CLIENT_ID": CLIENT["id"],
        "CALSYNC_MICROSOFT_CLIENT_SECRET": CLIENT["secret"],
        **extra,
    }
    return Settings.from_env({k: v for k, v in env.items() if v})


def live_world(
    tmp_path: Path,
    sandbox: SandboxServer,
    admins: dict[Provider, SandboxAdminClient],
    broker_url: str,
    **extra: str,
) -> Generator[World, None, None]:
    for admin in admins.values():
        admin.reset()
    late = _LateApp()
    server = make_server("127.0.0.1", 0, late, threaded=True, request_handler=QuietRequestHandler)
    public = extra.pop("CALSYNC_PUBLIC_URL", f"http://127.0.0.1:{server.server_port}")
    container = Container(world_settings(tmp_path, sandbox, broker_url, public, **extra))
    db.upgrade(container.engine)
    container.accounts.create(ACCOUNT, "Acme")
    container.directory.load(parse_directory(two_user_directory()))
    late.app = container.http_app()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield World(container, sandbox, admins, broker_url, tmp_path / "calsync.sqlite3")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        container.close()


def two_user_directory() -> Json:
    return {
        "accounts": [
            {
                "id": ACCOUNT,
                "name": "Acme",
                "extra_colleague_domains": [],
                "users": [
                    {"id": "ann", "name": "Ann", "email": "ann@example.com", "time_zone": "UTC"},
                    {"id": "bea", "name": "Bea", "email": "bea@example.com", "time_zone": "UTC"},
                ],
                "companies": [],
                "contacts": [],
            }
        ]
    }
