"""The SQL store (SQLAlchemy Core): schema, directory, accounts and appointments."""
