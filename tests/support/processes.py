"""Real ``calsync worker`` processes for tests that kill them."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child: get SIGKILL when the test process dies, whatever kills it (Linux)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


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
            [*command, "worker", "--queue", queue],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only sets a signal
        )
