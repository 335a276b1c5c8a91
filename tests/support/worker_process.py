"""A real worker process for tests that need signals or crashes.

``python -m tests.support.worker_process MODE URL QUEUE DIR [--grace S] [--sleep S]``

- ``slow``: the handler writes ``DIR/started-<id>``, sleeps ``--sleep`` seconds, then writes
  ``DIR/done-<id>``; the process runs :func:`workers.base.run_workers` until SIGTERM.
- ``crash``: the handler kills the process (``os._exit``) on every delivery, before any ack.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from adapters.broker.envelope import Envelope
from adapters.broker.topology import WorkQueue
from workers.base import MessageContext, Worker, run_workers

#: Exit status of a crash, so the test can tell it from anything else.
CRASH_STATUS = 70


class SlowHandler:
    def __init__(self, directory: Path, seconds: float) -> None:
        self.directory = directory
        self.seconds = seconds

    def handle(self, envelope: Envelope, context: MessageContext) -> None:
        (self.directory / f"started-{envelope.id}").write_text(str(context.attempt))
        time.sleep(self.seconds)
        (self.directory / f"done-{envelope.id}").write_text(str(context.attempt))


class CrashingHandler:
    def handle(self, envelope: Envelope, context: MessageContext) -> None:
        os._exit(CRASH_STATUS)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["slow", "crash"])
    parser.add_argument("url")
    parser.add_argument("queue")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--grace", type=float, default=10.0)
    parser.add_argument("--sleep", type=float, default=1.5)
    args = parser.parse_args(argv)
    handler = SlowHandler(args.directory, args.sleep) if args.mode == "slow" else CrashingHandler()
    worker = Worker(args.url, WorkQueue(args.queue, "test"), handler, prefetch=4)
    return run_workers([worker], grace_seconds=args.grace)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
