"""The on-call console's ports, filled with what the command line runs: ``calsync status``'s
``gather``, ``calsync dlq``'s service (audit rows and all), the connections list, the R36
explanations, and the scheduler's way of queueing a sync."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Protocol

import sqlalchemy as sa
import structlog

from adapters.broker.publisher import PublishFailed
from adapters.redaction import redact_text
from adapters.sql import dead_letters
from adapters.sql.connection_list import ConnectionFilter, OperatorConnection, SqlConnectionList
from adapters.sql.connections import SqlConnections
from adapters.sql.day_history import LagSample, SqlLagSamples, parked_per_hour
from adapters.sql.dead_letters import Filters, QueueStats
from adapters.sql.explanations import SqlExplanations
from adapters.status_report import gather
from domain.clock import Clock
from domain.connection_state import ACTIVE
from domain.explanations import Explanation
from infra.dlq import render, service
from infra.settings import Settings
from ingest.console.ports import ActionResult, ConsolePorts
from workers.channel_upkeep import ChannelKeeper
from workers.republish import KombuRepublisher


class ConsoleContainer(Protocol):
    """What the console needs of the composition root (``infra.bootstrap.Container`` is
    one); naming it here keeps this module from importing the container, which imports it."""

    @property
    def settings(self) -> Settings: ...

    @property
    def engine(self) -> sa.Engine: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def connections(self) -> SqlConnections: ...

    def channel_keeper(self) -> ChannelKeeper: ...


log = structlog.get_logger("calsync.console")


def console_ports(container: ConsoleContainer) -> ConsolePorts:
    engine, clock = container.engine, container.clock
    return ConsolePorts(
        tokens=container.settings.console_tokens,
        signing_key=_derived(container.settings.secret_key),
        status=lambda: gather(engine, container.settings.broker_url, clock),
        dead_letters=DeadLetterDesk(engine, container.settings.broker_url),
        connections=ConnectionDesk(container),
        history=DayHistory(engine, clock),
        clock=clock,
    )


def _derived(secret_key: str) -> str:
    # Its own key: a console cookie can never be mistaken for a channel token or the like.
    return hmac.new(secret_key.encode(), b"calsync-console", hashlib.sha256).hexdigest()


class DeadLetterDesk:
    """``calsync dlq`` for the console: the same reads, the same audited replay and purge."""

    def __init__(self, engine: sa.Engine, broker_url: str) -> None:
        self._engine = engine
        self._broker_url = broker_url

    def stats(self) -> list[QueueStats]:
        with self._engine.connect() as conn:
            return dead_letters.queue_stats(conn, Filters())

    def matching(self, filters: Filters, limit: int) -> tuple[list[dict[str, Any]], int]:
        with self._engine.connect() as conn:
            rows = dead_letters.summaries(conn, filters, limit=limit)
            total = dead_letters.count(conn, filters) if len(rows) == limit else len(rows)
        return rows, total

    def show(self, letter_id: int) -> dict[str, Any] | None:
        document = service.letter_document(self._engine, letter_id)
        if document is None:
            return None
        body = document["body"]
        shown = render.to_json(body["json"]) if "json" in body else body.get("text")
        document["headers_text"] = render.to_json(document["headers"])
        document["body_text"] = (
            shown if shown is not None else f"(not text; base64)\n{body['base64']}"
        )
        return document

    def selected(
        self, letter_ids: Sequence[int], filters: Filters | None, limit: int
    ) -> list[dict[str, Any]]:
        with self._engine.connect() as conn:
            if filters is None:
                return dead_letters.summaries_of(conn, letter_ids)[:limit]
            ids = dead_letters.matching_ids(conn, filters)[:limit]
            return dead_letters.summaries_of(conn, ids)

    def replay(
        self,
        letter_ids: Sequence[int],
        *,
        actor: str,
        pending_only: bool,
        selection: Mapping[str, Any],
    ) -> ActionResult:
        republisher = KombuRepublisher(self._broker_url)
        try:
            outcome = service.replay(
                self._engine,
                republisher,
                letter_ids,
                actor=actor,
                pending_only=pending_only,
                selection=selection,
            )
        finally:
            republisher.close()
        return _result(outcome)

    def purge(
        self, letter_ids: Sequence[int], *, actor: str, selection: Mapping[str, Any]
    ) -> ActionResult:
        return _result(service.purge(self._engine, letter_ids, actor=actor, selection=selection))


def _result(outcome: service.Outcome) -> ActionResult:
    failure = None
    if outcome.failure is not None:
        failure = f"dead letter {outcome.failure[0]} {outcome.failure[1]}"
    return ActionResult(
        run_id=outcome.run_id,
        done=len(outcome.done),
        per_queue=dict(outcome.per_queue()),
        skipped=list(outcome.skipped),
        failure=failure,
        not_tried=outcome.not_tried,
    )


class ConnectionDesk:
    def __init__(self, container: ConsoleContainer) -> None:
        self._container = container
        self._list = SqlConnectionList(container.engine, container.clock)
        self._explanations = SqlExplanations(container.engine)

    def find(self, where: ConnectionFilter, account_id: str | None) -> list[OperatorConnection]:
        return self._list.list_for_operator(where, account_id)

    def sync_now(self, connection_id: str) -> str | None:
        record = self._container.connections.get(connection_id)
        if record is None:
            return "no such connection"
        if record.status != ACTIVE:
            return f"the connection is {record.status}, not active"
        try:
            # As the scheduler's poll does: a sync.requested hint on the sync queue.
            self._container.channel_keeper().request_sync(record, reason="console", full=False)
        except PublishFailed as error:
            return f"the broker did not take it ({redact_text(str(error))})"
        log.info("sync requested from the console", connection_id=connection_id)
        return None

    def explain(self, account_id: str, user_id: str, event_id: str) -> Explanation | None:
        return self._explanations.explain(account_id, user_id, event_id)


class DayHistory:
    def __init__(self, engine: sa.Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._samples = SqlLagSamples(engine, clock)

    def parked_per_hour(self, hours: int) -> list[int]:
        return parked_per_hour(self._engine, self._clock(), hours)

    def lag_samples(self, hours: int) -> list[LagSample]:
        return self._samples.since(self._clock() - timedelta(hours=hours))
