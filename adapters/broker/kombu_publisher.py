"""Publishing through kombu, for the embedded broker (kombu's SQLAlchemy transport).

That transport writes each message in a committed SQL transaction before ``publish``
returns, which is the guarantee a confirm gives on RabbitMQ; it has no confirms to wait for.
"""

from __future__ import annotations

import threading

from kombu import Connection, Producer

from adapters.broker import topology
from adapters.broker.envelope import Envelope
from adapters.broker.publisher import PublishFailed

#: Bounded retries: kombu's default retry policy retries forever (RELIABILITY §2.1).
RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


class KombuPublisher:
    """Publisher (see ``adapters.broker.publisher``) over any kombu transport."""

    def __init__(self, url: str) -> None:
        self._connection = Connection(url, transport_options={"max_retries": 2})
        self._lock = threading.Lock()  # kombu connections are not thread-safe

    def publish(self, envelope: Envelope, queue: str, *, timeout: float | None = None) -> None:
        try:
            with self._lock:
                producer = Producer(self._connection.default_channel)
                producer.publish(
                    envelope.to_json(),
                    exchange=topology.EXCHANGE,
                    routing_key=queue,
                    content_type="application/json",
                    content_encoding="utf-8",
                    delivery_mode=2,
                    message_id=envelope.id,
                    type=envelope.type,
                    headers={
                        "trace_id": envelope.trace_id,
                        "account_id": envelope.account_id or "",
                    },
                    retry=True,
                    retry_policy=RETRY_POLICY,
                    timeout=timeout,
                )
        except Exception as exc:  # noqa: BLE001 - every transport failure means "not queued"
            raise PublishFailed(f"{type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._connection.release()
