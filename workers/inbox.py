"""Idempotent consumers: a handler claims its message in its own transaction before any effect.

Example::

    with engine.begin() as conn:
        if not claim_message(conn, "sync", envelope.id, clock()):
            return  # processed before: succeed without doing it again (the worker acks)
        ...  # the effects, committed together with the claim
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from adapters.sql import inbox


def claim_message(conn: sa.Connection, consumer: str, message_id: str, now: datetime) -> bool:
    """True if ``consumer`` has not processed ``message_id`` yet (and now has, on commit).

    The row is written in the caller's transaction, so a rollback un-claims the message and
    its redelivery runs again; a commit makes every later delivery return False.
    """
    return inbox.claim_message(conn, consumer, message_id, now)
