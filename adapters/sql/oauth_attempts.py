"""Browser connect attempts in SQL: a link's ticket, then the OAuth state and PKCE flow.

An attempt lives through three steps, each allowed once and only before ``expires_at``:

1. ``issue``: the CRM asked for a connect link; the ticket in it is stored as a hash.
2. ``start``: the browser opened the link; the ticket is spent, and the OAuth ``state``
   (hashed), the browser binding (hashed) and the provider flow with its PKCE verifier
   (encrypted) are stored, with a fresh expiry.
3. ``finish``: the provider sent the browser back; the state is spent and the flow handed
   out once, then wiped.

Every secret here is 256 bits of randomness, so a plain SHA-256 is enough to make the
stored hashes useless to whoever reads the table. The "spend" steps are conditional
updates, so two racing requests cannot both pass.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from adapters.crypto import TokenCipher
from adapters.sql.tables import oauth_attempts
from domain.clock import Clock, system_clock

_a = oauth_attempts.c

#: Attempts are deleted this long after they expired (kept a while to tell "used" from
#: "unknown" in answers).
KEEP_EXPIRED = timedelta(days=1)


class AttemptRefused(Exception):
    """The ticket or state cannot be used.

    Attributes:
        reason: ``unknown`` (never issued, tampered with, or for another provider),
            ``used`` or ``expired``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class OAuthAttempt:
    id: str
    account_id: str
    user_id: str
    provider: str
    appointment_type_id: str | None
    expires_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    binding_hash: str | None


def secret_hash(value: str) -> str:
    """The hex SHA-256 under which a ticket, state or binding is stored."""
    return hashlib.sha256(value.encode()).hexdigest()


class SqlOAuthAttempts:
    """Connect attempts; flows encrypted with the token cipher."""

    def __init__(self, engine: sa.Engine, cipher: TokenCipher, clock: Clock = system_clock) -> None:
        self._engine = engine
        self._cipher = cipher
        self._clock = clock

    def issue(
        self,
        *,
        account_id: str,
        user_id: str,
        provider: str,
        appointment_type_id: str | None,
        ticket: str,
        ttl: timedelta,
        now: datetime | None = None,
    ) -> datetime:
        """Store a new attempt for ``ticket``; returns when the ticket expires.

        Long-expired attempts are deleted on the way.
        """
        now = now or self._clock()
        expires_at = now + ttl
        with self._engine.begin() as conn:
            conn.execute(oauth_attempts.delete().where(_a.expires_at < now - KEEP_EXPIRED))
            conn.execute(
                oauth_attempts.insert().values(
                    id=str(uuid.uuid4()),
                    account_id=account_id,
                    user_id=user_id,
                    provider=provider,
                    appointment_type_id=appointment_type_id,
                    ticket_hash=secret_hash(ticket),
                    expires_at=expires_at,
                    created_at=now,
                )
            )
        return expires_at

    def by_ticket(self, ticket: str, provider: str, now: datetime | None = None) -> OAuthAttempt:
        """The attempt a link's ticket names, if it may still start.

        Raises:
            AttemptRefused: unknown ticket (or another provider's), already used, expired.
        """
        attempt = self._one(_a.ticket_hash == secret_hash(ticket), provider)
        if attempt.started_at is not None:
            raise AttemptRefused("used")
        if attempt.expires_at <= (now or self._clock()):
            raise AttemptRefused("expired")
        return attempt

    def start(
        self,
        attempt_id: str,
        *,
        state: str,
        binding: str,
        flow: str,
        ttl: timedelta,
        now: datetime | None = None,
    ) -> None:
        """Spend the ticket: keep the state, binding and flow for the callback.

        Raises:
            AttemptRefused: ``used`` when another request spent it first, ``expired``.
        """
        now = now or self._clock()
        with self._engine.begin() as conn:
            changed = conn.execute(
                oauth_attempts.update()
                .where(_a.id == attempt_id, _a.started_at.is_(None), _a.expires_at > now)
                .values(
                    started_at=now,
                    state_hash=secret_hash(state),
                    binding_hash=secret_hash(binding),
                    flow=self._cipher.encrypt(flow),
                    expires_at=now + ttl,
                )
            ).rowcount
        if changed != 1:
            raise AttemptRefused(self._why_not(attempt_id, now))

    def by_state(self, state: str, provider: str, now: datetime | None = None) -> OAuthAttempt:
        """The started attempt ``state`` names, if the callback may still finish it.

        Raises:
            AttemptRefused: unknown state (or another provider's), already used, expired.
        """
        attempt = self._one(_a.state_hash == secret_hash(state), provider)
        if attempt.finished_at is not None:
            raise AttemptRefused("used")
        if attempt.expires_at <= (now or self._clock()):
            raise AttemptRefused("expired")
        return attempt

    def finish(self, attempt_id: str, now: datetime | None = None) -> str:
        """Spend the state; returns the stored flow (decrypted), which is wiped.

        Raises:
            AttemptRefused: ``used`` when another request spent it first, ``expired``.
        """
        now = now or self._clock()
        with self._engine.begin() as conn:
            stored = conn.execute(sa.select(_a.flow).where(_a.id == attempt_id)).scalar()
            changed = conn.execute(
                oauth_attempts.update()
                .where(
                    _a.id == attempt_id,
                    _a.started_at.is_not(None),
                    _a.finished_at.is_(None),
                    _a.expires_at > now,
                )
                .values(finished_at=now, flow=None)
            ).rowcount
        if changed != 1 or stored is None:
            raise AttemptRefused(self._why_not(attempt_id, now))
        return self._cipher.decrypt(stored)

    def _one(self, condition: sa.ColumnElement[bool], provider: str) -> OAuthAttempt:
        query = sa.select(
            _a.id,
            _a.account_id,
            _a.user_id,
            _a.provider,
            _a.appointment_type_id,
            _a.expires_at,
            _a.started_at,
            _a.finished_at,
            _a.binding_hash,
        ).where(condition)
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None or row["provider"] != provider:
            raise AttemptRefused("unknown")
        return OAuthAttempt(**row)

    def _why_not(self, attempt_id: str, now: datetime) -> str:
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(_a.expires_at, _a.finished_at).where(_a.id == attempt_id)
            ).first()
        if row is None:
            return "unknown"
        return "expired" if row.expires_at <= now and row.finished_at is None else "used"
