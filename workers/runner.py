"""Run several queue consumers in one process and stop them gracefully on SIGTERM or SIGINT."""

from __future__ import annotations

import gc
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import structlog

log = structlog.get_logger("calsync.worker")

#: Seconds an in-flight message may take to finish after a stop signal; past it, the
#: message goes back to the broker unacked. Below Kubernetes' default 30 s kill deadline.
DEFAULT_GRACE_SECONDS = 25.0


class Runnable(Protocol):
    queue_name: str

    def run(self) -> None: ...

    def stop(self) -> None: ...

    def abort(self) -> None: ...


def run_workers(
    workers: Sequence[Runnable],
    *,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    stop: threading.Event | None = None,
) -> int:
    """Run each worker in a thread until a signal (or ``stop``), then stop them all.

    Stopping lets each in-flight message finish and be acked; one still running after
    ``grace_seconds`` (or at a second signal) is given back to the broker unacked. Signal
    handlers are installed only when called from the main thread.

    Returns:
        The exit status: 0 after a requested stop, 1 when a worker died on its own.
    """
    stop = stop or threading.Event()
    hurry = threading.Event()
    # Everything alive now (imported modules, clients) lives as long as the process: keep it
    # out of the collector's full passes, which otherwise walk it every few pages.
    gc.collect()
    gc.freeze()
    died: list[str] = []
    threads = [
        threading.Thread(
            target=_run_one,
            args=(worker, stop, died),
            name=f"worker-{worker.queue_name}",
            daemon=True,  # a handler stuck past the grace period must not keep the process up
        )
        for worker in workers
    ]
    with _signals_set(stop, hurry):
        for thread in threads:
            thread.start()
        log.info("workers started", queues=[worker.queue_name for worker in workers])
        while not stop.wait(0.5):
            pass
        for worker in workers:
            worker.stop()
        _wait_for(threads, grace_seconds, hurry)
        for worker, thread in zip(workers, threads, strict=True):
            if thread.is_alive():
                log.warning(
                    "grace period over; in-flight message returned", queue=worker.queue_name
                )
                worker.abort()
        _wait_for(threads, 2.0, threading.Event())
    log.info("workers stopped", died=died)
    return 1 if died else 0


def _run_one(worker: Runnable, stop: threading.Event, died: list[str]) -> None:
    try:
        worker.run()
    except Exception:  # logged, and the whole process stops with status 1
        log.exception("worker crashed", queue=worker.queue_name)
    finally:
        if not stop.is_set():  # it ended without being asked to: crashed, or sys.exit
            died.append(worker.queue_name)
        stop.set()


def _wait_for(threads: Sequence[threading.Thread], seconds: float, hurry: threading.Event) -> None:
    deadline = time.monotonic() + seconds
    for thread in threads:
        while thread.is_alive() and not hurry.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            thread.join(min(remaining, 0.1))


@contextmanager
def _signals_set(stop: threading.Event, hurry: threading.Event) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set():
            hurry.set()  # a second signal: do not wait out the grace period
        log.info("stop requested", signal=signal.Signals(signum).name)
        stop.set()

    previous: dict[int, Callable[..., Any] | int | None] = {
        signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
