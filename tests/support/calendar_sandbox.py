"""Driving the calendar sources against the sandbox providers, the same way for both.

A ``Harness`` hides what differs between Google and Graph in the tests that do not care:
event bodies, where the API lives, and how to build the source and the credentials.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.calendar.google.source import GoogleCalendarSource
from adapters.calendar.retry import RetryPolicy
from adapters.calendar.source import CalendarSource, ChangePage, Credentials
from domain.eligibility import SyncWindow
from domain.model import Provider, ProviderEvent
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer

with warnings.catch_warnings():
    # msgraph-sdk's generated code warns about its own deprecated classes when imported.
    warnings.simplefilter("ignore", DeprecationWarning)
    from adapters.calendar.graph.source import GraphCalendarSource

Json = dict[str, Any]

#: The window every test syncs: May 2026.
WINDOW = SyncWindow(datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC), "UTC")

#: Retries that keep failure tests quick: three tries, backoff of a few milliseconds.
QUICK_RETRY = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.05, max_retry_after=5)


@dataclass
class Harness:
    """One provider of a running sandbox, as the tests need it."""

    provider: Provider
    sandbox: SandboxServer
    admin: SandboxAdminClient
    #: Regex of the API path that lists changes, for faults and the request log.
    list_path: str
    sources: list[CalendarSource] = field(default_factory=list)

    def create_user(self, email: str, time_zone: str = "Europe/Berlin") -> Json:
        """A user with a calendar and a refresh token."""
        return self.admin.create_user(email, time_zone=time_zone)

    def credentials(self, user: Json, refresh_token: str | None = None) -> Credentials:
        """The user's credentials for this sandbox."""
        google = self.provider is Provider.GOOGLE
        return Credentials(
            provider=self.provider,
            refresh_token=refresh_token or user["refresh_token"],
            client_id="calsync-test",
            client_secret="test-secret",
            token_url=self.sandbox.google_token_url if google else self.sandbox.graph_token_url(),
            api_url=self.sandbox.google_api_url if google else self.sandbox.graph_api_url,
            user=user["email"] if google else user["id"],
        )

    def source(self, **options: Any) -> CalendarSource:
        """A new source (closed when the test ends)."""
        options.setdefault("retry", QUICK_RETRY)
        made: CalendarSource
        if self.provider is Provider.GOOGLE:
            made = GoogleCalendarSource(**options)
        else:
            made = GraphCalendarSource(**options)
        self.sources.append(made)
        return made

    def timed(self, day: int, hour: int, subject: str, month: int = 5, **fields: Any) -> Json:
        """A one-hour event on 2026-``month``-``day`` at ``hour`` UTC, in the provider's format."""
        start = f"2026-{month:02d}-{day:02d}T{hour:02d}:00:00"
        end = f"2026-{month:02d}-{day:02d}T{hour + 1:02d}:00:00"
        if self.provider is Provider.GOOGLE:
            body = {"summary": subject, "start": {"dateTime": start + "Z"}}
            return {**body, "end": {"dateTime": end + "Z"}, **fields}
        return {
            "subject": subject,
            "start": {"dateTime": start, "timeZone": "UTC"},
            "end": {"dateTime": end, "timeZone": "UTC"},
            **fields,
        }

    def few_retries(self) -> dict[str, Any]:
        """Source options that retry a throttled or failing call just once."""
        if self.provider is Provider.GOOGLE:
            return {"retry": RetryPolicy(attempts=2, initial_backoff=0.01, max_retry_after=5)}
        return {"kiota_max_retries": 1}

    def rename(self, user: Json, event_id: str, subject: str) -> None:
        """Change an event's subject as its owner would."""
        key = "summary" if self.provider is Provider.GOOGLE else "subject"
        self.admin.update_event(user["email"], event_id, {key: subject})

    def list_statuses(self) -> list[int]:
        """Statuses of the change-listing calls so far, in order."""
        return [r["status"] for r in self.admin.requests() if _lists(r["path"], self.list_path)]

    def token_calls(self) -> int:
        """How many token refreshes reached the sandbox."""
        return sum(1 for r in self.admin.requests() if r["path"].endswith("/token"))

    def close(self) -> None:
        """Close every source made."""
        for source in self.sources:
            source.close()


def _lists(path: str, pattern: str) -> bool:
    return re.search(pattern, path) is not None


def harness_for(provider: Provider, sandbox: SandboxServer, admin: SandboxAdminClient) -> Harness:
    """The harness of one provider of ``sandbox``."""
    list_path = "/calendars/primary/events$" if provider is Provider.GOOGLE else "/delta"
    return Harness(provider, sandbox, admin, list_path)


@dataclass
class SyncRun:
    """Everything one sync run returned."""

    pages: list[ChangePage]

    @property
    def events(self) -> list[ProviderEvent]:
        """Every event of every page, in order."""
        return [event for page in self.pages for event in page.events]

    @property
    def cursor(self) -> str | None:
        """The last page's sync cursor."""
        return self.pages[-1].sync_cursor

    def by_id(self) -> dict[str, ProviderEvent]:
        """The events by id (the last one wins)."""
        return {event.event_id: event for event in self.events}


def sync_run(
    source: CalendarSource,
    credentials: Credentials,
    cursor: str | None = None,
    window: SyncWindow = WINDOW,
    on_page: Callable[[ChangePage], None] | None = None,
) -> SyncRun:
    """Page through one run, passing reported tokens back as a caller should."""
    pages: list[ChangePage] = []
    for page in _pages(source, credentials, cursor, window):
        pages.append(page)
        if on_page is not None:
            on_page(page)
    return SyncRun(pages)


def _pages(
    source: CalendarSource, credentials: Credentials, cursor: str | None, window: SyncWindow
) -> Iterator[ChangePage]:
    page_token: str | None = None
    while True:
        page = source.changes(credentials, cursor=cursor, page=page_token, window=window)
        yield page
        if page.tokens is not None:
            credentials = credentials.with_tokens(page.tokens)
        if page.next_page is None:
            return
        page_token = page.next_page


def sandbox_settings(sandbox: SandboxServer) -> dict[str, str]:
    """The CALSYNC_* settings that point Calsync's provider clients at ``sandbox``."""
    return {
        "CALSYNC_GOOGLE_API_URL": sandbox.google_url + "/",
        "CALSYNC_GOOGLE_TOKEN_URL": sandbox.google_token_url,
        "CALSYNC_GRAPH_API_URL": sandbox.graph_api_url,
        "CALSYNC_MICROSOFT_TOKEN_URL": sandbox.graph_token_url(),
        "CALSYNC_GOOGLE_CLIENT_ID": "calsync-test",
        "CALSYNC_GOOGLE_CLIENT_SECRET": "s",
        "CALSYNC_MICROSOFT_CLIENT_ID": "calsync-test",
        "CALSYNC_MICROSOFT_CLIENT_SECRET": "s",
    }
