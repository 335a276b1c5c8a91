"""Reading the deployment files in infra/deploy: Kubernetes manifests, systemd units, env file."""

from __future__ import annotations

import configparser
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "infra" / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
SYSTEMD = DEPLOY / "systemd"
#: Where the units expect calsync installed (a venv under /opt/calsync).
UNIT_CALSYNC = "/opt/calsync/venv/bin/calsync"
#: Every `calsync worker --queue` there is (infra/bootstrap.Container.workers).
WORKER_QUEUES = ("sync", "connections", "crm", "writeback", "calsync.dead", "outbox-relay")


def manifests() -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every object of every manifest file, with the file it is in."""
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                yield path, document


def objects(kind: str) -> list[dict[str, Any]]:
    return [document for _path, document in manifests() if document["kind"] == kind]


def pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    """(object name, pod spec) of every Deployment and Job."""
    for _path, document in manifests():
        if document["kind"] in {"Deployment", "Job"}:
            yield document["metadata"]["name"], document["spec"]["template"]["spec"]


def read_unit(path: Path) -> configparser.ConfigParser:
    """A systemd unit, parsed strictly: a repeated section or key, or a line outside a
    section, is an error (systemd would take it, so the files keep one key per line)."""
    parser = configparser.ConfigParser(
        strict=True,
        interpolation=None,
        delimiters=("=",),
        comment_prefixes=("#", ";"),
        empty_lines_in_values=False,
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(), source=str(path))
    return parser


def units() -> list[Path]:
    return sorted([*SYSTEMD.glob("*.service"), *SYSTEMD.glob("*.target")])


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a systemd EnvironmentFile (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", name):
            raise ValueError(f"{path}: not KEY=VALUE: {line!r}")
        values[name] = value
    return values


def unit_command(unit: configparser.ConfigParser, calsync: str, instance: str = "") -> list[str]:
    """The unit's ExecStart as argv, with our calsync in place of the installed one and the
    template instance (%i) filled in."""
    argv = shlex.split(unit["Service"]["ExecStart"].replace("%i", instance))
    if argv[0] != UNIT_CALSYNC:
        raise ValueError(f"ExecStart runs {argv[0]}, not {UNIT_CALSYNC}")
    if any("%" in arg for arg in argv):
        raise ValueError(f"unexpanded specifier in {argv}")
    return [calsync, *argv[1:]]


def unit_environment(unit: configparser.ConfigParser) -> dict[str, str]:
    """The unit's Environment= assignments."""
    line = unit["Service"].get("Environment", "")
    return dict(pair.split("=", 1) for pair in shlex.split(line))
