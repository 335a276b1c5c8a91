"""The systemd units in infra/deploy/systemd: parsed strictly, hardened, ordered after the
migration unit, and checked by ``systemd-analyze verify`` (tests/integration/
test_deploy_setup.py starts their commands)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.settings import Settings
from tests.support.deploy_files import (
    SYSTEMD,
    UNIT_CALSYNC,
    WORKER_QUEUES,
    read_env_file,
    read_unit,
    unit_command,
    units,
)

IN_CI = os.environ.get("CI", "").lower() == "true"
SECRET_VARIABLES = (
    "CALSYNC_DATABASE_URL",
    "CALSYNC_BROKER_URL",
    "CALSYNC_SECRET_KEY",
    "CALSYNC_CRM_SIGNING_SECRET",
    "CALSYNC_GOOGLE_CLIENT_SECRET",
    "CALSYNC_MICROSOFT_CLIENT_SECRET",
)
SERVICES = ("calsync-migrate", "calsync-serve", "calsync-worker@", "calsync-scheduler")
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "DynamicUser": "yes",
    "CapabilityBoundingSet": "",
}


def service(name: str) -> Path:
    return SYSTEMD / f"{name}.service"


def test_every_unit_parses_strictly_with_known_sections() -> None:
    assert {path.name for path in units()} == {
        *(f"{name}.service" for name in SERVICES),
        "calsync.target",
    }
    for path in units():
        unit = read_unit(path)
        assert set(unit.sections()) <= {"Unit", "Service", "Install"}, path.name
        assert unit["Unit"]["Description"], path.name


def test_services_are_hardened_and_read_the_environment_file() -> None:
    for name in SERVICES:
        section = read_unit(service(name))["Service"]
        for key, value in HARDENING.items():
            assert section.get(key) == value, f"{name}: {key}"
        assert section["EnvironmentFile"] == "/etc/calsync/calsync.env", name


def test_long_running_services_restart_on_failure_after_the_migration() -> None:
    for name in SERVICES[1:]:
        unit = read_unit(service(name))
        assert unit["Service"]["Restart"] == "on-failure", name
        assert "calsync-migrate.service" in unit["Unit"]["Requires"].split(), name
        assert "calsync-migrate.service" in unit["Unit"]["After"].split(), name
        stop = int(unit["Service"]["TimeoutStopSec"].removesuffix("s"))
        assert stop > 25, f"{name}: a worker may take 25 s to finish its message"
    migrate = read_unit(service("calsync-migrate"))["Service"]
    assert migrate["Type"] == "oneshot"


def test_each_unit_runs_the_command_the_cli_has() -> None:
    calsync = "calsync"
    assert unit_command(read_unit(service("calsync-migrate")), calsync) == [
        calsync,
        "db",
        "upgrade",
    ]
    assert unit_command(read_unit(service("calsync-serve")), calsync) == [calsync, "serve"]
    assert unit_command(read_unit(service("calsync-scheduler")), calsync) == [
        calsync,
        "scheduler",
    ]
    worker = read_unit(service("calsync-worker@"))
    assert unit_command(worker, calsync, "crm") == [calsync, "worker", "--queue", "crm"]


def test_the_target_starts_one_worker_per_queue() -> None:
    wants = read_unit(SYSTEMD / "calsync.target")["Unit"]["Wants"].split()
    workers = {w.removeprefix("calsync-worker@").removesuffix(".service") for w in wants}
    assert set(WORKER_QUEUES) <= workers
    assert {"calsync-serve.service", "calsync-scheduler.service"} <= set(wants)


def test_the_environment_file_example_names_only_settings_and_holds_no_secret() -> None:
    values = read_env_file(SYSTEMD / "calsync.env.example")
    assert all(name.startswith("CALSYNC_") for name in values)
    for name in SECRET_VARIABLES:
        assert "<" in values[name], f"{name} must be a placeholder, not a value"
    settings = Settings.from_env({**values, "CALSYNC_SECRET_KEY": "k" * 32})
    assert settings.production
    assert settings.listen_port == 8080


def test_systemd_analyze_verifies_every_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        message = "systemd-analyze is not installed (apt-get install systemd)"
        if IN_CI:
            pytest.fail(f"{message}; CI=true requires it")
        pytest.skip(f"SKIPPED LOUDLY: {message}")
    calsync = str(Path(sys.executable).with_name("calsync"))
    for path in units():
        # verify insists the command exists: point the copies at this machine's calsync.
        text = path.read_text().replace(UNIT_CALSYNC, calsync)
        (tmp_path / path.name).write_text(text)
    names = ["calsync-worker@sync.service" if "@" in p.name else p.name for p in units()]
    for name in names:
        if "@sync" in name:
            shutil.copy(tmp_path / "calsync-worker@.service", tmp_path / name)
    result = subprocess.run(
        [analyze, "verify", *(f"./{name}" for name in names)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
