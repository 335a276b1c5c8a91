"""What the on-call console needs from the rest of the system; ``infra/console.py`` fills it
with the pieces ``calsync status``, ``calsync dlq`` and ``calsync connections`` use."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from adapters.sql.connection_list import ConnectionFilter, OperatorConnection
from adapters.sql.day_history import LagSample
from adapters.sql.dead_letters import Filters
from adapters.status_report import StatusReport
from domain.clock import Clock, system_clock
from domain.explanations import Explanation


@dataclass(frozen=True)
class ActionResult:
    """What a replay or purge did, as the console says it."""

    run_id: str
    done: int
    per_queue: dict[str, int]
    #: (letter id, why) of letters passed over.
    skipped: list[tuple[int, str]]
    #: The failure that stopped the run (already redacted), or None.
    failure: str | None = None
    not_tried: int = 0


class DeadLetterDesk(Protocol):
    """``calsync dlq`` behind the console: reads and the audited actions."""

    def stats(self) -> list[Any]:
        """Per original queue, as ``calsync dlq stats`` (``QueueStats``)."""
        ...

    def matching(self, filters: Filters, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Matching letters without headers and body, newest failure first; and the total."""
        ...

    def show(self, letter_id: int) -> dict[str, Any] | None:
        """``calsync dlq show --json``'s document (headers and body redacted), or None."""
        ...

    def selected(
        self, letter_ids: Sequence[int], filters: Filters | None, limit: int
    ) -> list[dict[str, Any]]:
        """The letters an action would take (named ones, or those ``filters`` match),
        oldest first, at most ``limit``."""
        ...

    def replay(
        self,
        letter_ids: Sequence[int],
        *,
        actor: str,
        pending_only: bool,
        selection: Mapping[str, Any],
    ) -> ActionResult: ...

    def purge(
        self, letter_ids: Sequence[int], *, actor: str, selection: Mapping[str, Any]
    ) -> ActionResult: ...


class ConnectionDesk(Protocol):
    def find(self, where: ConnectionFilter, account_id: str | None) -> list[OperatorConnection]: ...

    def sync_now(self, connection_id: str) -> str | None:
        """Queue a sync of an active connection as the scheduler's poll does; None when
        queued, else why not (unknown, not active, the broker did not confirm)."""
        ...

    def explain(self, account_id: str, user_id: str, event_id: str) -> Explanation | None:
        """R36; raises ``NoSuchUser`` for a user the account lacks."""
        ...


class DayHistory(Protocol):
    def parked_per_hour(self, hours: int) -> list[int]: ...

    def lag_samples(self, hours: int) -> list[LagSample]: ...


@dataclass(frozen=True)
class ConsolePorts:
    #: Operator tokens that sign in; empty: the console answers 404 everywhere.
    tokens: tuple[str, ...] = field(repr=False)
    #: Signs session cookies and CSRF tokens (a key derived from ``CALSYNC_SECRET_KEY``).
    signing_key: str = field(repr=False)
    #: ``calsync status``'s report (``adapters.status_report.gather``).
    status: Callable[[], StatusReport]
    dead_letters: DeadLetterDesk
    connections: ConnectionDesk
    history: DayHistory
    clock: Clock = system_clock
