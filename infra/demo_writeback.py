"""The other direction in ``calsync demo``: appointments saved in the CRM land in the calendars.

Each save is posted, signed, to the running app's ``POST /crm/events`` as the CRM would post
it; the CRM worker stores it, the outbox relay publishes its write request, and the
write-back worker writes it to Karl's sandbox calendar. The demo then reads the sandbox: the
event, its video link, and the mail the provider sent Eva (R20, R21, R22).
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TextIO

from adapters.sql.appointments import AppointmentFilter, AppointmentRecord
from domain.model import Provider
from infra.bootstrap import Container
from infra.demo_output import print_table
from infra.sandbox.client import SandboxAdminClient
from ingest.signature import sign

#: Longest wait for the saves to be written to the calendars.
WRITE_TIMEOUT = 20.0
POLL_INTERVAL = 0.2
EVA = "eva@kund.se"


@dataclass(frozen=True)
class Save:
    """One appointment saved in the CRM and what should become of it."""

    crm_id: str
    account_id: str
    provider: Provider
    subject: str
    invite: bool
    video: str | None


def saves(account: str, account_gbg: str) -> tuple[Save, ...]:
    return (
        Save("crm-1", account, Provider.GOOGLE, "Save and invite: Karl books Eva", True, "meet"),
        Save(
            "crm-2", account, Provider.GOOGLE, "Save without inviting: Karl books Eva", False, None
        ),
        Save(
            "crm-3",
            account_gbg,
            Provider.MICROSOFT,
            "Save and invite: Karl books Eva",
            True,
            "teams",
        ),
    )


def post_saves(container: Container, app_url: str, planned: tuple[Save, ...]) -> None:
    """Post each save to ``/crm/events``, signed with the deployment's CRM secret."""
    now = container.clock()
    start = now.replace(hour=13, minute=0, second=0, microsecond=0)
    for day, save in enumerate(planned, start=1):
        begins = start + timedelta(days=day)
        event = {
            "id": f"demo-{save.crm_id}",
            "type": "appointment.saved",
            "account_id": save.account_id,
            "occurred_at": now.isoformat(),
            "data": {
                "id": save.crm_id,
                "organizer_user_id": "karl",
                "subject": save.subject,
                "description": "Walk through the offer.",
                "agenda": "1. Prices\n2. Delivery",
                "start": begins.isoformat(),
                "end": (begins + timedelta(hours=1)).isoformat(),
                "contact_ids": ["eva"],
                "video": save.video,
                "invite": save.invite,
            },
        }
        raw = json.dumps(event).encode()
        at = int(container.clock().timestamp())
        signature = sign(container.settings.crm_signing_secret, at, raw)
        headers = {
            "Content-Type": "application/json",
            "X-Calsync-Signature": f"t={at},v1={signature}",
        }
        # The demo's own local http app: no user-given URL or scheme reaches urlopen.
        request = urllib.request.Request(  # noqa: S310
            f"{app_url}/crm/events", data=raw, headers=headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()


def wait_for_writes(
    container: Container, planned: tuple[Save, ...]
) -> dict[str, AppointmentRecord]:
    """The appointment of each save, once every one is in its calendar (or at the deadline)."""
    deadline = time.monotonic() + WRITE_TIMEOUT
    while True:
        found = {
            record.crm_id: record
            for save in planned
            for record in container.appointments.list(
                save.account_id, AppointmentFilter(user_id="karl")
            )
            if record.crm_id == save.crm_id and record.sync_state == "synced"
        }
        if len(found) == len(planned) or time.monotonic() > deadline:
            return found
        time.sleep(POLL_INTERVAL)


def report_writes(
    out: TextIO,
    planned: tuple[Save, ...],
    found: dict[str, AppointmentRecord],
    admins: dict[Provider, SandboxAdminClient],
    karl: str,
) -> list[str]:
    """Print what each calendar got; the saves that did not come out as the rules say."""
    rows: list[tuple[str, ...]] = [
        ("CRM save", "provider", "in calendar?", "video link", "mail to Eva", "ok?")
    ]
    wrong = []
    for save in planned:
        record = found.get(save.crm_id)
        event = _event(admins[save.provider], karl, record)
        mail = _mail(admins[save.provider], event)
        expected_mail = ["invitation"] if save.invite else []
        has_video = bool(record and record.video_url)
        ok = event is not None and mail == expected_mail and has_video == (save.video is not None)
        if not ok:
            wrong.append(f"{save.subject} ({save.provider.value})")
        rows.append(
            (
                save.subject,
                save.provider.value,
                "yes" if event else "no",
                _short((record.video_url or "-") if record else "-"),
                ", ".join(mail) or "none",
                "as R20-R22 say" if ok else "WRONG",
            )
        )
    print_table(out, rows)
    return wrong


def _event(
    admin: SandboxAdminClient, karl: str, record: AppointmentRecord | None
) -> dict[str, Any] | None:
    if record is None or not record.links:
        return None
    ids = {link.event_id for link in record.links}
    return next((e for e in admin.events(karl) if e["id"] in ids), None)


def _mail(admin: SandboxAdminClient, event: dict[str, Any] | None) -> list[str]:
    if event is None:
        return []
    return [m["kind"] for m in admin.invitations(EVA) if m["event_id"] == event["id"]]


def _short(url: str, width: int = 48) -> str:
    return url if len(url) <= width else url[: width - 1] + "…"
