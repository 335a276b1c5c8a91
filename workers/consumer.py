"""The transport half of a worker: one queue, one connection, bounded prefetch, reconnects, stop.

Built on kombu's ``ConsumerMixin``, which owns the drain loop and reconnects on connection
and channel errors. Subclasses say what a delivery means in :meth:`QueueConsumer.on_delivery`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import structlog
from kombu import Connection, Queue
from kombu.message import Message
from kombu.mixins import ConsumerMixin
from kombu.utils.limits import TokenBucket

from workers.republish import is_amqp

log = structlog.get_logger("calsync.worker")

#: Unacked deliveries per consumer. Bounded, so one process never hoards a backlog that a
#: crash would requeue all at once (each requeue counts toward the delivery limit), and
#: per consumer, not global: quorum queues refuse global QoS (RELIABILITY.md §1.3).
DEFAULT_PREFETCH = 16


class _StopRequested(Exception):
    """Raised inside kombu's reconnect loop to leave it when the worker is told to stop."""


class QueueConsumer(ConsumerMixin):
    """Consume one queue until :meth:`stop`; run it in a thread or as the main loop."""

    #: Reconnect waits after a lost or refused connection: 1 s, 3 s, 5 s, … at most 30 s.
    reconnect_interval_start = 1.0
    reconnect_interval_step = 2.0
    reconnect_interval_max = 30.0
    #: Seconds the drain loop blocks before it looks at the stop flag again.
    poll_seconds = 0.5

    def __init__(
        self, connection_url: str, queue_name: str, *, prefetch: int = DEFAULT_PREFETCH
    ) -> None:
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1 (0 would mean unlimited)")
        # A URL may list a cluster's nodes, separated by ';': kombu's failover list. A lost
        # or refused connection moves to the next node at once; the waits below begin only
        # once every node has refused in a row.
        self.connection = Connection(connection_url, connect_timeout=5)
        self.queue_name = queue_name
        self.prefetch = prefetch
        self.should_stop = False
        #: Set while the consumer is registered with the broker (for readiness checks and tests).
        self.consuming = threading.Event()
        self._stopping = threading.Event()
        self._channel: Any = None
        #: Restarts after a consume failure (say, a missing queue): at most one per 2 s.
        self.restart_limit = TokenBucket(fill_rate=0.5, capacity=1)

    # -- what subclasses implement -----------------------------------------------------------

    def on_delivery(self, message: Message) -> None:
        """Handle one delivery and ack, reject or leave it; runs on the consuming thread."""
        raise NotImplementedError

    # -- control, from any thread ------------------------------------------------------------

    def run(self, _tokens: int = 1, **kwargs: Any) -> None:
        """Consume until :meth:`stop`, reconnecting with backoff whenever the broker goes away."""
        try:
            super().run(_tokens, safety_interval=self.poll_seconds, **kwargs)
        except _StopRequested:
            pass
        finally:
            self.consuming.clear()
        log.info("consumer stopped", queue=self.queue_name)

    def stop(self) -> None:
        """Finish the delivery in hand, then stop; prefetched deliveries go back to the queue."""
        self.should_stop = True
        self._stopping.set()

    def abort(self) -> None:
        """Give the unfinished delivery back to the broker now (after the grace period).

        The consuming thread may still be inside a handler; whatever it does next fails, and
        the broker (or, on the embedded transport, kombu) puts the message back in the queue.
        """
        self.stop()
        channel = self._channel
        if channel is None:
            return
        with contextlib.suppress(Exception):
            if is_amqp(self.connection):
                # One syscall, safe beside another thread; the broker requeues on the lost link.
                channel.connection.sock.shutdown(socket.SHUT_RDWR)
            else:
                channel.qos.restore_unacked_once()

    def pause(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True (at once) when the worker is told to stop meanwhile."""
        return self._stopping.wait(seconds)

    # -- kombu ConsumerMixin hooks -------------------------------------------------------------

    def get_consumers(self, consumer_cls: Any, channel: Any) -> list[Any]:
        # On RabbitMQ, queues carry arguments and are declared by `calsync broker declare`;
        # a redeclare here could only differ and fail. The embedded broker wants a declare.
        queue = Queue(self.queue_name, no_declare=is_amqp(self.connection))
        return [
            consumer_cls(queues=[queue], on_message=self._deliver, prefetch_count=self.prefetch)
        ]

    def on_consume_ready(
        self, connection: Any, channel: Any, consumers: Any, **kwargs: Any
    ) -> None:
        self._channel = channel
        self.consuming.set()
        # Which node: with a cluster's nodes in the URL, kombu takes the next one whenever
        # the connection is lost or refused (as_uri() leaves the password out).
        log.info(
            "consuming", queue=self.queue_name, prefetch=self.prefetch, broker=connection.as_uri()
        )

    @contextlib.contextmanager
    def consumer_context(self, **kwargs: Any) -> Iterator[Any]:
        try:
            with super().consumer_context(**kwargs) as context:
                yield context
        finally:  # also when the connection is lost, which skips on_consume_end
            self.consuming.clear()
            self._channel = None

    def on_connection_error(self, exc: BaseException, interval: float) -> None:
        log.warning(
            "broker unreachable; retrying",
            queue=self.queue_name,
            error=f"{type(exc).__name__}: {exc}",
            retry_in_seconds=interval,
        )

    @contextlib.contextmanager
    def establish_connection(self) -> Iterator[Connection]:
        with self.create_connection() as conn:
            conn.ensure_connection(
                self.on_connection_error,
                self.connect_max_retries,
                interval_start=self.reconnect_interval_start,
                interval_step=self.reconnect_interval_step,
                interval_max=self.reconnect_interval_max,
                callback=self._raise_if_stopping,
            )
            yield conn

    def _raise_if_stopping(self) -> None:
        if self.should_stop:
            raise _StopRequested

    def _deliver(self, message: Message) -> None:
        if self.should_stop:
            return  # not ours any more: unacked, it goes back to the queue when we close
        self.on_delivery(message)
