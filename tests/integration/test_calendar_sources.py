"""Both calendar sources against the sandbox providers: paging, cursors, errors and tokens.

Every test here runs once for Google and once for Microsoft Graph; what only one provider
does is in ``test_calendar_sources_google.py`` and ``test_calendar_sources_graph.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.calendar import (
    UNKNOWN_VERSION_TIME,
    AuthorizationRevoked,
    CursorExpired,
    ProviderRejected,
    ProviderUnavailable,
    source_for,
)
from domain.model import Provider, Timed
from infra.sandbox.client import SandboxAdminClient
from infra.sandbox.server import SandboxServer
from tests.support.calendar_sandbox import WINDOW, Harness, harness_for, sync_run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*")

Json = dict[str, Any]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """Both sandbox providers, for this module."""
    with SandboxServer() as server:
        yield server


@pytest.fixture(scope="module")
def admins(sandbox: SandboxServer) -> Iterator[dict[Provider, SandboxAdminClient]]:
    """The admin client of each provider."""
    with (
        SandboxAdminClient(sandbox.google_url) as google,
        SandboxAdminClient(sandbox.graph_url) as graph,
    ):
        yield {Provider.GOOGLE: google, Provider.MICROSOFT: graph}


@pytest.fixture(params=[Provider.GOOGLE, Provider.MICROSOFT], ids=["google", "graph"])
def harness(
    request: pytest.FixtureRequest,
    sandbox: SandboxServer,
    admins: dict[Provider, SandboxAdminClient],
) -> Iterator[Harness]:
    """One provider, reset, with the sources a test makes closed afterwards."""
    admin = admins[request.param]
    admin.reset()
    made = harness_for(request.param, sandbox, admin)
    yield made
    made.close()


@pytest.fixture
def ann(harness: Harness) -> Json:
    """A user with a calendar."""
    return harness.create_user("ann@example.com")


def test_a_full_sync_pages_through_the_window_and_ends_with_a_cursor(
    harness: Harness, ann: Json
) -> None:
    # Given 600 events in the window and two outside it
    bodies = [harness.timed(1 + n % 28, 8 + n % 10, f"e{n}") for n in range(600)]
    created = harness.admin.create_events(ann["email"], bodies, sendUpdates="none")
    harness.admin.create_events(
        ann["email"],
        [harness.timed(2, 10, "June", month=6), harness.timed(20, 10, "April", month=4)],
        sendUpdates="none",
    )
    source = harness.source(page_size=70)

    # When the window is synced from scratch
    run = sync_run(source, harness.credentials(ann))

    # Then every event in it comes exactly once, over pages, with a cursor on the last only
    ids = [event.event_id for event in run.events]
    assert len(ids) == len(set(ids)) == 600
    assert set(ids) == {event["id"] for event in created}
    assert len(run.pages) == 9
    assert all(p.next_page and p.sync_cursor is None for p in run.pages[:-1])
    assert run.pages[-1].next_page is None
    assert run.cursor
    first = run.by_id()[created[0]["id"]]
    assert first.subject == "e0"
    assert isinstance(first.timing, Timed)
    assert (first.timing.start, first.timing.end) == (
        datetime(2026, 5, 1, 8, tzinfo=UTC),
        datetime(2026, 5, 1, 9, tzinfo=UTC),
    )


def test_an_incremental_sync_returns_only_what_changed(harness: Harness, ann: Json) -> None:
    # Given three synced events
    created = harness.admin.create_events(
        ann["email"], [harness.timed(day, 10, f"e{day}") for day in (1, 2, 3)]
    )
    source = harness.source()
    credentials = harness.credentials(ann)
    cursor = sync_run(source, credentials).cursor

    # When one is renamed and the calendar is synced from the cursor
    harness.rename(ann, created[1]["id"], "renamed")
    changes = sync_run(source, credentials, cursor)

    # Then only that event comes back, as it is now; and after that, nothing
    assert [(e.event_id, e.subject) for e in changes.events] == [(created[1]["id"], "renamed")]
    assert changes.cursor
    assert sync_run(source, credentials, changes.cursor).events == []


def test_a_deleted_event_comes_back_cancelled_with_only_its_id(harness: Harness, ann: Json) -> None:
    # Given two synced events
    _kept, deleted = harness.admin.create_events(
        ann["email"], [harness.timed(1, 10, "kept"), harness.timed(2, 10, "deleted")]
    )
    source = harness.source()
    credentials = harness.credentials(ann)
    cursor = sync_run(source, credentials).cursor

    # When one is deleted
    harness.admin.delete_event(ann["email"], deleted["id"])
    [gone] = sync_run(source, credentials, cursor).events

    # Then it comes back cancelled, with nothing but its identity
    assert gone.event_id == deleted["id"]
    assert gone.is_cancelled
    assert (gone.subject, gone.timing, gone.attendees) == ("", None, ())
    if harness.provider is Provider.MICROSOFT:  # @removed carries no time at all
        assert gone.version.updated == UNKNOWN_VERSION_TIME
    else:
        assert gone.version.updated > UNKNOWN_VERSION_TIME


def test_an_expired_cursor_raises_cursor_expired_and_a_full_sync_recovers(
    harness: Harness, ann: Json
) -> None:
    # Given a synced event and an expired cursor
    harness.admin.create_event(ann["email"], harness.timed(1, 10, "e"))
    source = harness.source()
    credentials = harness.credentials(ann)
    cursor = sync_run(source, credentials).cursor
    harness.admin.expire_sync_tokens(ann["email"])

    # When the cursor is used, then a full sync is asked for
    with pytest.raises(CursorExpired):
        source.changes(credentials, cursor=cursor, page=None, window=WINDOW)

    # And a full sync works
    resync = sync_run(source, credentials)
    assert [e.subject for e in resync.events] == ["e"]
    assert sync_run(source, credentials, resync.cursor).events == []


def test_a_page_of_an_expired_round_raises_cursor_expired(harness: Harness, ann: Json) -> None:
    # Given the first page of a full sync
    harness.admin.create_events(ann["email"], [harness.timed(d, 10, "e") for d in range(1, 6)])
    source = harness.source(page_size=2)
    credentials = harness.credentials(ann)
    first = source.changes(credentials, cursor=None, page=None, window=WINDOW)
    harness.admin.expire_sync_tokens(ann["email"])

    # When the next page is asked for after the provider dropped the round, then
    with pytest.raises(CursorExpired):
        source.changes(credentials, cursor=None, page=first.next_page, window=WINDOW)


def test_a_revoked_refresh_token_raises_authorization_revoked(harness: Harness, ann: Json) -> None:
    # Given a user who revoked the grant
    harness.admin.revoke_refresh_tokens(user=ann["email"])

    # When a source without a cached access token syncs, then
    with pytest.raises(AuthorizationRevoked):
        sync_run(harness.source(), harness.credentials(ann))


def test_a_grant_revoked_under_a_live_session_is_noticed_at_the_next_refresh(
    harness: Harness, ann: Json
) -> None:
    # Given a source that synced, and so holds an access token
    source = harness.source()
    credentials = harness.credentials(ann)
    sync_run(source, credentials)

    # When the grant is revoked and the access token expires
    harness.admin.revoke_refresh_tokens(user=ann["email"])
    harness.admin.expire_access_tokens(ann["email"])

    # Then the next sync says so
    with pytest.raises(AuthorizationRevoked):
        sync_run(source, credentials)


def test_a_401_to_a_fresh_token_raises_authorization_revoked(harness: Harness, ann: Json) -> None:
    # Given an API that refuses every token, however fresh
    harness.admin.fail_next(401, count=5, path=harness.list_path)

    # When the calendar is synced, then
    with pytest.raises(AuthorizationRevoked):
        sync_run(harness.source(), harness.credentials(ann))
    assert harness.token_calls() >= 1  # it did refresh before giving up


def test_a_401_to_a_token_from_an_earlier_call_is_retried_with_a_fresh_one(
    harness: Harness, ann: Json
) -> None:
    # Given a source holding an access token from an earlier call
    harness.admin.create_event(ann["email"], harness.timed(1, 10, "e"))
    source = harness.source()
    credentials = harness.credentials(ann)
    sync_run(source, credentials)

    # When the API refuses that token once
    harness.admin.fail_next(401, path=harness.list_path)
    run = sync_run(source, credentials)

    # Then the source refreshed, tried again and succeeded
    assert [e.subject for e in run.events] == ["e"]
    assert harness.token_calls() == 2
    assert run.pages[-1].tokens is not None


def test_an_expired_access_token_is_refreshed_and_reported(harness: Harness, ann: Json) -> None:
    # Given a source that reported its first tokens, which the caller kept
    source = harness.source()
    credentials = harness.credentials(ann)
    first = source.changes(credentials, cursor=None, page=None, window=WINDOW)
    assert first.tokens is not None
    credentials = credentials.with_tokens(first.tokens)
    assert source.changes(credentials, cursor=None, page=None, window=WINDOW).tokens is None

    # When the provider expires the access token
    harness.admin.expire_access_tokens(ann["email"])
    page = source.changes(credentials, cursor=None, page=None, window=WINDOW)

    # Then the call still succeeds and reports the new token (and rotated refresh token)
    assert page.tokens is not None
    assert page.tokens.access_token != first.tokens.access_token
    assert page.tokens.expires_at is not None
    assert page.tokens.expires_at > datetime.now(UTC)
    if harness.provider is Provider.MICROSOFT:
        assert page.tokens.refresh_token != first.tokens.refresh_token
    else:
        assert page.tokens.refresh_token == ann["refresh_token"]


def test_reported_tokens_passed_back_save_a_refresh_in_another_process(
    harness: Harness, ann: Json
) -> None:
    # Given tokens reported by one source
    credentials = harness.credentials(ann)
    tokens = harness.source().changes(credentials, cursor=None, page=None, window=WINDOW).tokens
    assert tokens is not None
    before = harness.token_calls()

    # When another source (another worker) is given them
    page = harness.source().changes(
        credentials.with_tokens(tokens), cursor=None, page=None, window=WINDOW
    )

    # Then it uses them as they are
    assert page.tokens is None
    assert harness.token_calls() == before


def test_a_throttled_call_waits_as_told_and_succeeds(harness: Harness, ann: Json) -> None:
    # Given a provider that throttles the next call (Retry-After: 1)
    harness.admin.create_event(ann["email"], harness.timed(1, 10, "e"))
    harness.admin.fail_next(429, path=harness.list_path)

    # When the calendar is synced
    started = time.monotonic()
    run = sync_run(harness.source(), harness.credentials(ann))

    # Then the source waited the second it was told and no error surfaced
    assert time.monotonic() - started >= 1.0
    assert [e.subject for e in run.events] == ["e"]
    assert harness.list_statuses() == [429, 200]


def test_a_provider_that_stays_unavailable_raises_provider_unavailable(
    harness: Harness, ann: Json
) -> None:
    # Given a provider that answers 503 (Retry-After: 1) to every try
    harness.admin.fail_next(503, count=5, path=harness.list_path)

    # When the calendar is synced by a source that retries once, then
    with pytest.raises(ProviderUnavailable) as unavailable:
        sync_run(harness.source(**harness.few_retries()), harness.credentials(ann))
    assert unavailable.value.retry_after == 1.0
    assert harness.list_statuses() == [503, 503]


def test_a_long_retry_after_is_not_waited_out_in_the_call(harness: Harness, ann: Json) -> None:
    # Given a provider that asks for two minutes of quiet
    harness.admin.fail_next(429, count=5, path=harness.list_path, retry_after=120)

    # When the calendar is synced
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable) as unavailable:
        sync_run(harness.source(), harness.credentials(ann))

    # Then the caller gets the hint at once, to reschedule with
    assert unavailable.value.retry_after == 120.0
    assert time.monotonic() - started < 5
    assert harness.list_statuses() == [429]


def test_server_errors_are_retried_within_the_call(harness: Harness, ann: Json) -> None:
    # Given a provider that fails twice with 500
    harness.admin.create_event(ann["email"], harness.timed(1, 10, "e"))
    harness.admin.fail_next(500, count=2, path=harness.list_path)

    # When the calendar is synced (three tries allowed), then it works
    run = sync_run(harness.source(), harness.credentials(ann))
    assert [e.subject for e in run.events] == ["e"]
    assert harness.list_statuses() == [500, 500, 200]


def test_other_refusals_raise_provider_rejected(harness: Harness, ann: Json) -> None:
    # Given a provider that answers 404
    harness.admin.fail_next(404, path=harness.list_path)

    # When the calendar is synced, then the refusal is permanent and not retried
    with pytest.raises(ProviderRejected) as rejected:
        sync_run(harness.source(), harness.credentials(ann))
    assert rejected.value.status == 404
    assert harness.list_statuses() == [404]


def test_an_unreachable_provider_raises_provider_unavailable(harness: Harness, ann: Json) -> None:
    # Given an API address where nothing listens
    credentials = harness.credentials(ann)
    dead = credentials.api_url.replace(f":{_port(credentials.api_url)}", ":9")
    # When the calendar is synced, then
    with pytest.raises(ProviderUnavailable):
        sync_run(harness.source(), replace(credentials, api_url=dead))


def test_credentials_of_the_other_provider_are_refused(harness: Harness, ann: Json) -> None:
    other = Provider.MICROSOFT if harness.provider is Provider.GOOGLE else Provider.GOOGLE
    with pytest.raises(ValueError, match="credentials"):
        harness.source().changes(
            replace(harness.credentials(ann), provider=other),
            cursor=None,
            page=None,
            window=WINDOW,
        )


def test_the_factory_makes_the_source_of_each_provider(harness: Harness, ann: Json) -> None:
    # Given the event of a user, when synced by the source the factory makes
    harness.admin.create_event(ann["email"], harness.timed(1, 10, "e"))
    source = source_for(harness.provider.value)
    try:
        run = sync_run(source, harness.credentials(ann))
    finally:
        source.close()

    # Then it is the right source for the provider
    assert [(e.provider, e.subject) for e in run.events] == [(harness.provider, "e")]


def _port(url: str) -> int:
    return int(url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
