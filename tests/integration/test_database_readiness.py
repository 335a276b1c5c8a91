"""``/readyz`` of the real composition root: a reachable database with migrations pending is
not ready (every query of a new table would fail), and is once ``db upgrade`` ran."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import db
from infra.bootstrap import Container
from infra.settings import Settings


@pytest.fixture
def container(tmp_path: Path, broker_url: str) -> Iterator[Container]:
    settings = Settings.from_env(
        {
            "CALSYNC_VAR_DIR": str(tmp_path / "var"),
            "CALSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'calsync.sqlite3'}",
            "CALSYNC_BROKER_URL": broker_url,
            "CALSYNC_SECRET_KEY": secrets.token_urlsafe(32),
            "CALSYNC_CRM_SIGNING_SECRET": secrets.token_urlsafe(32),
        }
    )
    container = Container(settings)
    yield container
    container.close()


def test_readyz_is_not_ready_while_migrations_are_pending(container: Container) -> None:
    client = container.http_app().test_client()

    pending = client.get("/readyz")
    db.upgrade(container.engine)
    upgraded = client.get("/readyz")

    assert pending.status_code == 503
    assert pending.get_json()["checks"]["database"] == "unavailable: MigrationsPending"
    assert upgraded.status_code == 200
    assert upgraded.get_json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


def test_a_database_migrated_by_a_later_release_is_not_told_to_upgrade(
    container: Container,
) -> None:
    db.upgrade(container.engine)
    with container.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'from_a_later_release'")

    with pytest.raises(db.MigrationsPending, match=r"from_a_later_release.*does not know"):
        db.require_current_schema(container.engine)
