"""Signing in to the on-call console from a Flask test client, and reading its forms."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from flask.testing import FlaskClient

from infra.bootstrap import Container
from infra.settings import Settings

#: An operator token of the tests (``CALSYNC_CONSOLE_TOKEN``).
TOKEN = "console-token-of-the-tests-0123456789"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def console_settings(engine: sa.Engine, var_dir: Path, broker_url: str | None = None) -> Settings:
    return Settings.from_env(
        {
            "CALSYNC_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "CALSYNC_BROKER_URL": broker_url or f"sqla+sqlite:///{var_dir}/broker.sqlite3",
            "CALSYNC_VAR_DIR": str(var_dir),
            "CALSYNC_CONSOLE_TOKEN": f"another-operators-token-xyz,{TOKEN}",
        }
    )


def console_container(engine: sa.Engine, var_dir: Path, broker_url: str | None = None) -> Container:
    return Container(console_settings(engine, var_dir, broker_url))


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: FlaskClient, token: str = TOKEN, operator: str = "tess") -> None:
    form = client.get("/console/signin")
    answer = client.post(
        "/console/signin",
        data={"csrf": csrf_of(form.text), "token": token, "operator": operator},
    )
    assert answer.status_code == 303, answer.text
