"""README's *Try it*, run as a newcomer would: its ``sh`` blocks, as written, in order.

The first block (``make run``) runs in the background, as in the README's first terminal
(``-o .venv/.installed``: without installing again, which is ``make``'s business, not this
test's);
the others run in one bash (the README's second terminal), so variables carry from block to
block. The only thing added is ``CALSYNC_VAR_DIR`` (documented) pointing at a temporary
directory, so the repository's ``var/`` is left alone. A block the README says to run again
when its answer is not there yet is run again, up to a deadline. The README's ports are
fixed (8080-8082): when one is taken the test skips, or fails under ``CI=true``.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.slow

README = ROOT / "README.md"
PORTS = (8080, 8081, 8082)
#: Longest wait for ``make run`` to print its first lines (migrations included).
START_DEADLINE = 120.0
#: Longest wait for one block, and for a block run again until its answer shows.
BLOCK_DEADLINE = 60.0
DONE = "__readme_block_done__"
#: What the blocks the README says to repeat must show, by a piece of their text.
EVENTUALLY = {
    "/api/v1/appointments": (
        '"subject": "Intro call with Globex"',
        '"subject": "Demo for Globex"',
        '"contact_id": "eva"',
        '"company_id": "globex"',
    ),
    "/events | python": (
        '"summary": "Contract review with Globex"',
        '"subject": "Pricing follow-up with Globex"',
    ),
}


def try_it_blocks(text: str) -> list[str]:
    """The ``sh`` blocks of the README's *Try it* section, in order."""
    section = text.split("\n## Try it\n", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL)]


def test_try_it_section_starts_with_make_run_and_has_both_directions() -> None:
    blocks = try_it_blocks(README.read_text())

    assert blocks[0] == "make run"
    joined = "\n".join(blocks)
    for step in ("calsync connect microsoft", "curl -sSL", "calsync crm send", "_admin/users"):
        assert step in joined


def test_a_newcomer_gets_a_meeting_through_both_directions_with_the_readme_alone(
    tmp_path: Path,
) -> None:
    blocks = try_it_blocks(README.read_text())
    env = _fresh_environment(tmp_path / "var")
    _require_free_ports()
    _require_installed_venv()
    with _make_run(env, tmp_path) as banner:
        assert "with the provider sandboxes" in banner
        assert "Google sandbox     http://127.0.0.1:8081" in banner
        with _Terminal(env) as terminal:
            transcript = [_run_block(terminal, block) for block in blocks[1:]]
    shown = "\n".join(transcript)
    assert '"status":"connected"' in shown  # Ann's browser connect (curl as the browser)
    assert re.search(r"^ann +google +active", shown, re.MULTILINE), shown
    assert re.search(r"^bob +microsoft +active", shown, re.MULTILINE), shown
    assert shown.count('{"id":"crm-send-') == 2, shown
    assert "calsync: error" not in shown


def _run_block(terminal: _Terminal, block: str) -> str:
    wanted = next((want for key, want in EVENTUALLY.items() if key in block), ())
    deadline = time.monotonic() + BLOCK_DEADLINE
    while True:
        status, output = terminal.run(block)
        missing = [text for text in wanted if text not in output]
        if status == 0 and not missing:
            return output
        if time.monotonic() > deadline:
            pytest.fail(f"block\n{block}\nexited {status}, missing {missing}:\n{output}")
        time.sleep(1)


def _fresh_environment(var_dir: Path) -> dict[str, str]:
    """A shell's environment on a fresh clone: no CALSYNC_* but the documented var dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALSYNC_", "OAUTHLIB_"))}
    env.pop("VIRTUAL_ENV", None)
    return {**env, "CALSYNC_VAR_DIR": str(var_dir)}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true requires the README walk-through to run", pytrace=False)
    pytest.skip(reason)


def _require_free_ports() -> None:
    for port in PORTS:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                _unavailable(f"port {port}, which the README's commands use, is taken")


def _require_installed_venv() -> None:
    if not (ROOT / ".venv" / "bin" / "calsync").exists():
        _unavailable(".venv is not installed; run `make run` once")


class _make_run:
    """``make run`` in the background; its first lines once it listens; stopped on exit."""

    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        self.env = env
        self.out = tmp_path / "make-run.out"
        self.err = tmp_path / "make-run.err"

    def __enter__(self) -> str:
        with self.out.open("w") as out, self.err.open("w") as err:
            self.process = subprocess.Popen(
                ["make", "-o", ".venv/.installed", "run"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_DEADLINE
        while "Next:" not in self.out.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                pytest.fail(
                    f"make run did not start:\n{self.out.read_text()}\n"
                    f"{self.err.read_text()[-3000:]}"
                )
            time.sleep(0.2)
        return self.out.read_text()

    def __exit__(self, *_exc: object) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # make and calsync run: our group
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


class _Terminal:
    """One bash, as the README's second terminal: blocks run in it one after the other."""

    def __init__(self, env: dict[str, str]) -> None:
        self.shell = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def __enter__(self) -> _Terminal:
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self.shell.stdin is not None
        self.shell.stdin.close()
        try:
            self.shell.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.shell.pid, signal.SIGKILL)
            self.shell.wait(timeout=10)

    def run(self, block: str) -> tuple[int, str]:
        """Paste ``block``; its exit status (of its last command) and its output."""
        assert self.shell.stdin is not None
        self.shell.stdin.write(f"{block}\necho {DONE} $?\n")
        self.shell.stdin.flush()
        return self._until_done(time.monotonic() + BLOCK_DEADLINE)

    def _until_done(self, deadline: float) -> tuple[int, str]:
        output: list[str] = []
        for line in self._lines(deadline):
            if line.startswith(DONE):
                return int(line.split()[1]), "".join(output)
            output.append(line)
        pytest.fail("a README block did not finish in time:\n" + "".join(output))

    def _lines(self, deadline: float) -> Iterator[str]:
        while (left := deadline - time.monotonic()) > 0:
            try:
                yield self.lines.get(timeout=left)
            except queue.Empty:
                return

    def _read(self) -> None:
        assert self.shell.stdout is not None
        for line in self.shell.stdout:
            self.lines.put(line)
