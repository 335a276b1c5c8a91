"""Alembic migrations of the store (run by ``calsync db upgrade``)."""
