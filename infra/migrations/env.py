"""Alembic environment: runs on the engine handed over by ``infra.db``."""

from __future__ import annotations

from alembic import context

from adapters.sql.tables import metadata

engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
