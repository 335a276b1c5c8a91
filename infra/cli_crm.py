"""``calsync crm send FILE``: sign a CRM event as the CRM does and post it to ``/crm/events``.

For trying calsync and for operators: nobody should build an HMAC by hand. The event is
read from FILE and filled in before signing (so example files never go stale):

* ``{{today}}`` and ``{{today+N}}`` in any string become today's date (UTC) or the date N
  days on, ``YYYY-MM-DD``, e.g. ``"start": "{{today+2}}T10:00:00Z"``;
* a missing top-level ``id`` becomes a new random one, a missing ``occurred_at`` now.

The signature is ``X-Calsync-Signature`` (``ingest.signature``) with this deployment's
``CALSYNC_CRM_SIGNING_SECRET`` (or the one generated under ``var/``); neither the secret
nor the signature is printed.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import httpx

from infra.bootstrap import Container
from ingest.crm import SIGNATURE_HEADER
from ingest.signature import sign

#: How long to wait for calsync's answer.
TIMEOUT_SECONDS = 10.0
_TODAY = re.compile(r"\{\{\s*today\s*(?:\+\s*(\d{1,4})\s*)?\}\}")


class CrmSendFailed(click.ClickException):
    """A failure the command reports: exit status 1, one line on stderr."""

    exit_code = 1


@click.group()
def crm() -> None:
    """Events as the CRM sends them."""


@crm.command("send")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--url",
    default=None,
    help="Where to post (default: CALSYNC_PUBLIC_URL + /crm/events).",
)
@click.pass_obj
def crm_send(container: Container, file: Path, url: str | None) -> None:
    """Sign the CRM event in FILE with the CRM signing secret and post it; prints the answer."""
    event = fill_in(_read_event(file), now=datetime.now(UTC))
    raw = json.dumps(event).encode()
    at = int(datetime.now(UTC).timestamp())
    target = url or f"{container.settings.public_url}/crm/events"
    signature = f"t={at},v1={sign(container.settings.crm_signing_secret, at, raw)}"
    try:
        answer = httpx.post(
            target,
            content=raw,
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
            timeout=TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as error:
        raise CrmSendFailed(
            f"cannot post to {target}: {type(error).__name__}; is calsync running there?"
        ) from None
    if answer.status_code >= 300:
        raise CrmSendFailed(f"{target} answered {answer.status_code}: {_error_message(answer)}")
    click.echo(answer.text.strip())


def fill_in(event: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    """``event`` with its ``{{today+N}}`` dates, and a missing id and ``occurred_at``, filled."""
    filled = _dates(event, now)
    assert isinstance(filled, dict)  # a dict's copy is a dict
    filled.setdefault("id", f"crm-send-{secrets.token_hex(8)}")
    filled.setdefault("occurred_at", now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return filled


def _dates(value: Any, now: datetime) -> Any:
    if isinstance(value, str):
        return _TODAY.sub(lambda m: _day(now, m[1]), value)
    if isinstance(value, dict):
        return {key: _dates(item, now) for key, item in value.items()}
    if isinstance(value, list):
        return [_dates(item, now) for item in value]
    return value


def _day(now: datetime, days: str | None) -> str:
    return (now + timedelta(days=int(days or 0))).date().isoformat()


def _read_event(file: Path) -> dict[str, Any]:
    try:
        event = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise CrmSendFailed(f"{file}: cannot read it: {error}") from None
    except json.JSONDecodeError as error:
        raise CrmSendFailed(f"{file}: not JSON: {error}") from None
    if not isinstance(event, dict):
        raise CrmSendFailed(f"{file}: a CRM event is a JSON object")
    return event


def _error_message(answer: httpx.Response) -> str:
    """The API's ``error.message``, else the start of the body."""
    try:
        return str(answer.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return answer.text.strip()[:200] or answer.reason_phrase
