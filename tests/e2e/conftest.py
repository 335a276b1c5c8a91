"""Helpers for running ``calsync`` as a user would: a subprocess with its own var/ directory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

CALSYNC = [sys.executable, "-c", "from infra.cli import main; main()"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def calsync(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``calsync ARGS`` in a fresh working directory on the embedded default store."""
    env = {
        **os.environ,
        "CALSYNC_VAR_DIR": str(tmp_path / "var"),
        "PYTHONPATH": str(ROOT),
        "CALSYNC_LOG_FORMAT": "json",
        # `calsync run` starts the provider sandboxes when no app is configured: on free
        # ports here, not on the README's 8081 and 8082.
        "CALSYNC_SANDBOX_PORTS": "0,0",
    }
    env.pop("CALSYNC_DATABASE_URL", None)

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CALSYNC, *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    run.env = env  # type: ignore[attr-defined]
    run.cwd = tmp_path  # type: ignore[attr-defined]
    return run
