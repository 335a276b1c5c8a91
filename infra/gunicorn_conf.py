"""gunicorn settings for ``calsync serve``; every value can be overridden by GUNICORN_CMD_ARGS."""

from __future__ import annotations

import multiprocessing

#: Two sync workers per core keeps the CPU busy while one waits on the database or broker.
workers = max(2, multiprocessing.cpu_count())
#: Threads mostly wait on the broker's confirm; many in flight share each confirm round trip.
#: 8 per worker: with 4, half of 16 concurrent webhook senders queued behind confirms
#: (measured 1,150-1,190 req/s and p99 34-38 ms, against 1,380-1,520 and 24-28 ms with 8).
threads = 8
#: gthread whose poller buffers each request before a thread takes it (infra/gunicorn_worker.py).
#: Stock gthread reads headers in the thread, blocking and without a deadline: 16 clients
#: trickling a header line a second held all 16 threads and /healthz timed out. gevent or
#: eventlet would also buffer, but they monkey-patch the process: the pika I/O thread,
#: SQLAlchemy's pool and psycopg would all run on green threads, a bigger change than reading
#: request bytes in the loop gthread already has. A proxy in front (nginx) does the same job
#: and is welcome, but the service must not depend on one being there.
worker_class = "infra.gunicorn_worker.BufferingThreadWorker"
#: Connections one worker holds open (reading, kept alive or being answered); beyond it the
#: worker stops accepting and the kernel's backlog holds newcomers.
worker_connections = 1000
#: One listening socket per worker (SO_REUSEPORT), so the kernel spreads connections over the
#: workers. With one shared socket, whichever gthread worker is awake accepts a whole burst of
#: keep-alive connections: under wrk's 16 connections one worker served all of them while the
#: other idled, so "2 workers" ran on one process (one GIL) in every benchmark setup.
reuse_port = True
#: Google and Graph give up on slow endpoints; answer or fail well inside their deadlines.
timeout = 30
graceful_timeout = 20
keepalive = 5
#: Bounded request line and header sizes: nothing a client sends can make a worker balloon.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = None  # the app logs every request itself, with its trace id
errorlog = "-"


def child_exit(_server: object, worker: object) -> None:
    """Forget a dead worker's live gauges when metrics are shared across workers
    (``PROMETHEUS_MULTIPROC_DIR``, which ``/metrics`` then sums)."""
    import os  # noqa: PLC0415 - gunicorn loads this file as settings; keep its namespace small

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess  # noqa: PLC0415

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
