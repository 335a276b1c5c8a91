"""The store's engine never puts bound parameters (message bodies, tokens) in its errors."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from infra import db

SECRET = "secret-bound-value-4f2a"


def test_a_failing_statement_does_not_show_its_bound_parameters() -> None:
    engine = db.create_engine("sqlite://")
    with pytest.raises(sa.exc.DBAPIError) as raised, engine.connect() as conn:
        conn.execute(sa.text("INSERT INTO no_such_table VALUES (:v)"), {"v": SECRET})
    assert SECRET not in str(raised.value)
    assert "hidden due to hide_parameters" in str(raised.value)
    engine.dispose()
