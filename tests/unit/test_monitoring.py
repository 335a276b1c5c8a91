"""The alert rules and the dashboard name only metrics that exist; each alert has a runbook."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import adapters.calendar.errors
import ingest.metrics
import workers.calendar_sync
import workers.connections
import workers.crm
import workers.metrics
import workers.outbox_relay
import workers.scheduler
import workers.sync
import workers.writeback

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "infra" / "monitoring"
RUNBOOK = ROOT / "docs" / "RUNBOOK.md"
#: Modules whose import registers metrics (kept referenced so the imports stay).
METRIC_MODULES = (
    adapters.calendar.errors,
    ingest.metrics,
    workers.calendar_sync,
    workers.connections,
    workers.crm,
    workers.metrics,
    workers.outbox_relay,
    workers.scheduler,
    workers.sync,
    workers.writeback,
)
#: Gauges the store collector yields at scrape time.
STORE_GAUGE_NAMES = {
    "calsync_connections",
    "calsync_dead_letters",
    "calsync_dead_letter_oldest_age_seconds",
}
_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def _defined_metrics() -> set[str]:
    names = set(STORE_GAUGE_NAMES)
    for family in REGISTRY.collect():
        if family.name.startswith("calsync_"):
            names.update(sample.name for sample in family.samples)
            names.add(family.name)
    return names


def _used(expression: str) -> set[str]:
    return set(re.findall(r"\bcalsync_[a-z_]+\b", expression))


def _base(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _exists(name: str, defined: set[str]) -> bool:
    return name in defined or _base(name) in {_base(d) for d in defined}


def _rules() -> list[dict]:
    document = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_alert_names_existing_metrics_and_has_a_runbook_section() -> None:
    defined = _defined_metrics()
    headings = {
        line.removeprefix("## ").strip().lower()
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("## ")
    }
    rules = _rules()
    assert len(rules) >= 10
    for rule in rules:
        missing = {m for m in _used(rule["expr"]) if not _exists(m, defined)}
        assert not missing, f"{rule['alert']} names unknown metrics {missing}"
        anchor = rule["annotations"]["runbook_url"].partition("#")[2]
        assert anchor == rule["alert"].lower()
        assert anchor in headings, f"no runbook section for {rule['alert']}"
        assert rule["labels"]["severity"] in {"page", "ticket"}


def test_the_dashboard_shows_only_existing_metrics_and_every_metric_we_define() -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    defined = _defined_metrics()
    shown = {m for panel in dashboard["panels"] for t in panel["targets"] for m in _used(t["expr"])}
    assert {m for m in shown if not _exists(m, defined)} == set()
    # Every family we define is on the dashboard, so a new metric cannot be forgotten there.
    assert {_base(d) for d in defined} <= {_base(m) for m in shown}
