"""Building the real google-api-python-client services against the sandbox."""

from __future__ import annotations

import json
from typing import Any

from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from infra.sandbox.server import SandboxServer


def credentials(sandbox: SandboxServer, refresh_token: str) -> Credentials:
    """User credentials that refresh against the sandbox token endpoint."""
    return Credentials(
        token=None,
        refresh_token=refresh_token,
        token_uri=sandbox.google_token_url,
        client_id="calsync-test.apps.googleusercontent.com",
        client_secret="test-secret",
    )


def calendar_service(sandbox: SandboxServer, creds: Any) -> Any:
    """``build("calendar", "v3")`` pointed at the sandbox, with the bundled discovery doc."""
    return build(
        "calendar",
        "v3",
        credentials=creds,
        static_discovery=True,
        client_options={"api_endpoint": sandbox.google_api_url},
    )


def directory_service(sandbox: SandboxServer, creds: Any, api_endpoint: str | None = None) -> Any:
    """``build("admin", "directory_v1")`` pointed at the sandbox."""
    return build(
        "admin",
        "directory_v1",
        credentials=creds,
        static_discovery=True,
        client_options={"api_endpoint": api_endpoint or sandbox.google_api_url},
    )


def timed(start: str, end: str, **fields: Any) -> dict[str, Any]:
    """A timed event body (UTC times)."""
    return {"start": {"dateTime": start}, "end": {"dateTime": end}, **fields}


def insert(calendar: Any, body: dict[str, Any], **params: Any) -> dict[str, Any]:
    """``events.insert`` into the primary calendar."""
    return calendar.events().insert(calendarId="primary", body=body, **params).execute()


def reason(error: HttpError) -> str:
    """The first ``errors[].reason`` of a Google error response."""
    return json.loads(error.content)["error"]["errors"][0]["reason"]


def watch(calendar: Any, address: str, channel_id: str = "chan-1", **extra: Any) -> dict[str, Any]:
    """``events.watch`` on the primary calendar with a web_hook channel."""
    body = {"id": channel_id, "type": "web_hook", "address": address, **extra}
    return calendar.events().watch(calendarId="primary", body=body).execute()
