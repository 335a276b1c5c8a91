"""Real ``calsync worker`` processes for tests that kill them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path


def dying_with_parent(command: Sequence[str]) -> list[str]:
    """``command``, made to get SIGKILL when the test process dies, whatever kills it.

    util-linux's ``setpriv`` sets the parent-death signal and execs the command in place (same
    pid). Not a ``preexec_fn``: Python code between fork and exec in a threaded process can
    deadlock on a lock another thread held at the fork (the dynamic loader's, a preloaded
    libfaketime's), which hung the 400-days-ahead run.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None or sys.platform != "linux":
        return list(command)
    return [setpriv, "--pdeathsig", "KILL", "--", *command]


def calsync_worker(
    queue: str, environment: Mapping[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """Start ``calsync worker --queue QUEUE`` with exactly ``environment``'s CALSYNC_*
    settings (none inherited from this process), logging to ``log_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALSYNC_")}
    env.update(environment)
    calsync = Path(sys.executable).with_name("calsync")
    command = [str(calsync)] if calsync.exists() else [sys.executable, "-m", "infra.cli"]
    with log_path.open("wb") as log:
        return subprocess.Popen(
            dying_with_parent([*command, "worker", "--queue", queue]),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
