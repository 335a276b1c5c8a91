"""Engine and session set-up, and migrations, for SQLite (one machine) and PostgreSQL."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
UPGRADE_HINT = "run `calsync db upgrade`"
#: Where Alembic records the revisions applied (its default name).
VERSION_TABLE = "alembic_version"

#: What SQLite and PostgreSQL say of a table or column a migration would have made.
_MISSING_SCHEMA = re.compile(
    r"no such (?:table|column)|has no column named|relation .* does not exist"
    r"|column .* does not exist|undefinedtable|undefinedcolumn",
    re.IGNORECASE,
)


class MigrationsPending(Exception):
    """The database is not at this release's migration head; the message says what to do."""


def create_engine(url: str, **kwargs: Any) -> sa.Engine:
    """Return an engine tuned for the store; nothing connects until first use."""
    # Bound parameters carry message bodies and tokens; keep them out of errors and logs.
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    return sa.create_engine(url, **kwargs)


def _sqlite_engine(url: str, database: str | None, **kwargs: Any) -> sa.Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("connect_args", {"timeout": 30})
    engine = sa.create_engine(url, **kwargs)

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets the API read while a worker writes; foreign keys are off by default in SQLite.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(engine: sa.Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (idempotent)."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def require_current_schema(engine: sa.Engine) -> None:
    """Raise ``MigrationsPending`` unless the database is at this release's head revision.

    Services check this before they start: on an older schema every query of a missing
    table fails, over and over, while ``/readyz`` would otherwise say ready.
    """
    heads, known = _script_revisions()
    current = _applied_revisions(engine)
    if current == heads:
        return
    if current - known:
        raise MigrationsPending(
            f"the database is at revision {', '.join(sorted(current - known))}, which this "
            "release of calsync does not know: run the calsync release that migrated it"
        )
    raise MigrationsPending(
        f"the database schema is {'empty' if not current else 'out of date'} "
        f"(migrations pending): {UPGRADE_HINT}"
    )


def _applied_revisions(engine: sa.Engine) -> set[str]:
    """The revisions Alembic recorded; read directly, as a readiness probe runs this often
    and Alembic's own context logs two INFO lines each time it is made."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(VERSION_TABLE):
            return set()
        rows = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}"))  # noqa: S608 - a constant
        return {str(revision) for revision in rows.scalars()}


@functools.cache
def _script_revisions() -> tuple[set[str], set[str]]:
    """The head revisions and every revision of the migrations shipped (read once)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    return set(script.get_heads()), {rev.revision for rev in script.walk_revisions()}


def safe_url(url: str) -> str:
    """The database URL as it may be shown: never its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL: show its scheme only
        return url.split("://", 1)[0] + "://…"


def describe_database_error(error: sa.exc.SQLAlchemyError, url: str | None) -> str:
    """One line for a failed database call, with what to do about it; no password, no SQL."""
    where = f" at {safe_url(url)}" if url else ""
    reason = _first_line(getattr(error, "orig", None) or error)
    if url:
        password = _password(url)
        if password:
            reason = reason.replace(password, "***")
    driver_error = type(error.orig).__name__ if isinstance(error, sa.exc.DBAPIError) else ""
    if _MISSING_SCHEMA.search(f"{driver_error} {reason}"):
        return f"the database{where} lacks part of the schema ({reason}): {UPGRADE_HINT}"
    if isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError):
        return f"cannot use the database ({reason}); is the database{where} reachable?"
    return f"database error{where}: {reason}"


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _password(url: str) -> str | None:
    try:
        return make_url(url).password
    except Exception:  # noqa: BLE001 - unparsable: nothing to hide that we could find
        return None
