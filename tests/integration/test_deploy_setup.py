"""infra/deploy against the real servers: the RabbitMQ script and the PostgreSQL SQL make a
vhost, users, policies, a role and a database (throwaway ones, removed afterwards), and the
systemd units' commands, run as those least-privileged users, come up and stop cleanly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from adapters.broker import topology
from tests.conftest import AMQP_URL, POSTGRES_ADMIN_URL, unreachable
from tests.support.deploy_files import (
    DEPLOY,
    SYSTEMD,
    WORKER_QUEUES,
    read_env_file,
    read_unit,
    unit_command,
    unit_environment,
)
from tests.support.processes import dying_with_parent

pytestmark = pytest.mark.integration

CALSYNC = str(Path(sys.executable).with_name("calsync"))
#: Seconds a started process must stay up before it counts as having come up.
STAY_UP_SECONDS = 3.0
STARTUP_DEADLINE = 90.0
#: calsync's own grace period is 25 s; the units give 35 s before SIGKILL.
STOP_DEADLINE = 35.0


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload]
        command, capture_output=True, text=True, timeout=120, check=False, **kwargs
    )


def psql_base() -> list[str]:
    url = sa.engine.make_url(POSTGRES_ADMIN_URL)
    where = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
    return ["psql", *where, "-U", url.username or "postgres", "-v", "ON_ERROR_STOP=1", "-X", "-q"]


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A role and database made by setup.sql (run twice: it must be repeatable)."""
    if shutil.which("psql") is None:
        unreachable("PostgreSQL", FileNotFoundError("psql is not installed"))
    name = f"calsync_deploy_{uuid.uuid4().hex[:10]}"
    password = "pw-" + uuid.uuid4().hex
    admin_db = sa.engine.make_url(POSTGRES_ADMIN_URL).database or "postgres"
    setup = [*psql_base(), "-d", admin_db, "-v", f"role={name}", "-v", f"database={name}"]
    setup += ["-v", f"password={password}", "-f", str(DEPLOY / "postgresql" / "setup.sql")]
    try:
        for _ in range(2):
            result = run(setup)
            if result.returncode:
                unreachable("PostgreSQL", RuntimeError(result.stderr.strip()))
        url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(
            username=name, password=password, database=name
        )
        yield url.render_as_string(hide_password=False)
    finally:
        # Two -c: DROP DATABASE may not share a transaction with anything.
        drop_database = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        drop_role = f'DROP ROLE IF EXISTS "{name}"'
        run([*psql_base(), "-d", admin_db, "-c", drop_database, "-c", drop_role])


@pytest.fixture(scope="module")
def broker_account() -> Iterator[dict[str, str]]:
    """A vhost, application user and monitoring user made by setup.sh (run twice)."""
    if shutil.which("rabbitmqctl") is None:
        unreachable("RabbitMQ", FileNotFoundError("rabbitmqctl is not installed"))
    name = f"calsync_deploy_{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "CALSYNC_MQ_VHOST": name,
        "CALSYNC_MQ_USER": f"{name}_app",
        "CALSYNC_MQ_PASSWORD": "pw-" + uuid.uuid4().hex,
        "CALSYNC_MQ_KEDA_USER": f"{name}_keda",
        "CALSYNC_MQ_KEDA_PASSWORD": "pw-" + uuid.uuid4().hex,
    }
    try:
        for _ in range(2):
            result = run(["bash", str(DEPLOY / "rabbitmq" / "setup.sh")], env=env)
            if result.returncode:
                unreachable("RabbitMQ", RuntimeError(result.stderr.strip()))
        yield env
    finally:
        for command in (
            ["delete_vhost", name],
            ["delete_user", f"{name}_app"],
            ["delete_user", f"{name}_keda"],
        ):
            run(["rabbitmqctl", "-q", *command])


def broker_url(account: dict[str, str]) -> str:
    host = AMQP_URL.split("@", 1)[-1].split("/", 1)[0]
    user, password = account["CALSYNC_MQ_USER"], account["CALSYNC_MQ_PASSWORD"]
    return f"amqp://{user}:{password}@{host}/{quote(account['CALSYNC_MQ_VHOST'], safe='')}"


def rabbitmqctl_rows(*args: str) -> list[dict[str, object]]:
    result = run(["rabbitmqctl", "-q", *args, "--formatter", "json"])
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def test_postgresql_setup_makes_a_login_role_owning_its_database_and_nothing_more(
    database_url: str,
) -> None:
    url = sa.engine.make_url(database_url)
    admin = sa.create_engine(POSTGRES_ADMIN_URL)
    try:
        with admin.connect() as conn:
            role = conn.execute(
                sa.text(
                    "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole "
                    "FROM pg_roles WHERE rolname = :name"
                ),
                {"name": url.username},
            ).one()
            owner = conn.execute(
                sa.text("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :name"),
                {"name": url.database},
            ).scalar_one()
    finally:
        admin.dispose()
    assert tuple(role) == (True, False, False, False)
    assert owner == url.username


def test_rabbitmq_setup_policies_agree_with_the_queues_calsync_declares(
    broker_account: dict[str, str],
) -> None:
    vhost = broker_account["CALSYNC_MQ_VHOST"]
    env = {**os.environ, "CALSYNC_BROKER_URL": broker_url(broker_account)}
    declared = run([CALSYNC, "broker", "declare"], env=env)
    assert declared.returncode == 0, declared.stderr  # the user may declare what calsync needs
    policies = {row["name"]: row for row in rabbitmqctl_rows("list_policies", "-p", vhost)}
    work = json.loads(str(policies["calsync-work-queues"]["definition"]))
    assert work == {"delivery-limit": topology.DELIVERY_LIMIT, "queue-leader-locator": "balanced"}
    queues = {
        row["name"]: row["policy"]
        for row in rabbitmqctl_rows("list_queues", "-p", vhost, "name", "policy")
    }
    for queue in topology.WORK_QUEUES:
        assert queues[queue.name] == "calsync-work-queues"
    # The parker's queue must never get a delivery limit from a policy.
    assert queues[topology.DEAD_LETTER_QUEUE] == "calsync-queues"
    users = {row["user"]: row["tags"] for row in rabbitmqctl_rows("list_users")}
    assert users[broker_account["CALSYNC_MQ_KEDA_USER"]] == ["monitoring"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unit_env(
    unit_name: str, settings: dict[str, str], runtime: Path, instance: str = ""
) -> dict[str, str]:
    """What systemd would give the unit's command: the environment file's settings (here
    pointed at the throwaway servers) and the unit's Environment=, its /run paths in tmp."""
    unit = read_unit(SYSTEMD / unit_name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALSYNC_")}
    env |= settings
    for name, value in unit_environment(unit).items():
        env[name] = value.replace("/run/", f"{runtime}/").replace("%i", instance)
    for directory in unit["Service"].get("RuntimeDirectory", "").split():
        (runtime / directory).mkdir(parents=True, exist_ok=True)
    return env


def start_unit(
    unit_name: str, settings: dict[str, str], tmp_path: Path, instance: str = ""
) -> subprocess.Popen[bytes]:
    unit = read_unit(SYSTEMD / unit_name)
    env = unit_env(unit_name, settings, tmp_path / "run", instance)
    log = unit_log(tmp_path, unit_name, instance).open("wb")
    return subprocess.Popen(
        dying_with_parent(unit_command(unit, CALSYNC, instance)),
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def unit_log(tmp_path: Path, unit_name: str, instance: str = "") -> Path:
    return tmp_path / f"{unit_name.replace('@', '@' + instance)}.log"


def wait_for_log(path: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    """Until the process logs ``text`` (``workers started``: its consumers are running)."""
    deadline = time.monotonic() + STARTUP_DEADLINE
    while text not in path.read_text(errors="replace"):
        assert process.poll() is None, f"{path.name}: exited {process.returncode}"
        assert time.monotonic() < deadline, f"{path.name}: no {text!r} in {STARTUP_DEADLINE}s"
        time.sleep(0.5)


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def wait_for_status(url: str, processes: dict[str, subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE
    while http_status(url) != 200:
        died = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
        assert not died, f"exited before {url} answered: {died}"
        assert time.monotonic() < deadline, f"{url} did not answer 200 in {STARTUP_DEADLINE}s"
        time.sleep(0.5)


def stop_all(processes: dict[str, subprocess.Popen[bytes]]) -> dict[str, int | None]:
    """SIGTERM every process; their exit status after the stop deadline (None: still up)."""
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_DEADLINE
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
            process.returncode = None  # did not stop in time
    return {name: process.returncode for name, process in processes.items()}


def test_systemd_unit_commands_come_up_as_the_set_up_users_and_stop_cleanly(
    database_url: str, broker_account: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    settings = read_env_file(SYSTEMD / "calsync.env.example") | {
        "CALSYNC_DATABASE_URL": database_url,
        "CALSYNC_BROKER_URL": broker_url(broker_account),
        "CALSYNC_SECRET_KEY": uuid.uuid4().hex,
        "CALSYNC_CRM_SIGNING_SECRET": uuid.uuid4().hex,
        "CALSYNC_LISTEN": f"127.0.0.1:{port}",
    }
    migrate = start_unit("calsync-migrate.service", settings, tmp_path)
    migrate_log = unit_log(tmp_path, "calsync-migrate.service")
    assert migrate.wait(timeout=STARTUP_DEADLINE) == 0, migrate_log.read_text()
    processes = {"serve": start_unit("calsync-serve.service", settings, tmp_path)}
    processes["scheduler"] = start_unit("calsync-scheduler.service", settings, tmp_path)
    for queue in WORKER_QUEUES:
        processes[queue] = start_unit("calsync-worker@.service", settings, tmp_path, queue)
    try:
        wait_for_status(f"http://127.0.0.1:{port}/healthz", processes)
        wait_for_status(f"http://127.0.0.1:{port}/readyz", processes)
        for queue in WORKER_QUEUES:
            log = unit_log(tmp_path, "calsync-worker@.service", queue)
            wait_for_log(log, "workers started", processes[queue])
        log = unit_log(tmp_path, "calsync-scheduler.service")
        wait_for_log(log, "workers started", processes["scheduler"])
        time.sleep(STAY_UP_SECONDS)
        running = {name: p.poll() for name, p in processes.items()}
        assert running == dict.fromkeys(processes), f"logs in {tmp_path}"
    finally:
        stopped = stop_all(processes)
    assert stopped == dict.fromkeys(processes, 0), f"logs in {tmp_path}"
