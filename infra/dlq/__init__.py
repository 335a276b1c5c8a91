"""``calsync dlq``: list, show, replay and purge the dead letters the parker keeps in SQL."""

from infra.dlq.commands import dlq

__all__ = ["dlq"]
