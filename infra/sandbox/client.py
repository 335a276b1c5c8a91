"""Python client for the sandbox admin API (``/_admin``), for tests and the demo.

One client talks to one sandbox; point it at the Google or the Graph server root::

    google = SandboxAdminClient(sandbox.google_url)
    ann = google.create_user("ann@example.com", time_zone="Europe/Berlin")
    google.create_event(ann["email"], {"summary": "Intro call", "start": ..., "end": ...})

Event bodies are in the provider's own format (Google event JSON, Graph event JSON).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import httpx

Json = dict[str, Any]


class SandboxAdminError(Exception):
    """The admin API refused a request."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


class SandboxAdminClient:
    """Synchronous client for one sandbox's admin API.

    Args:
        base_url: the sandbox root, e.g. ``SandboxServer.google_url``.
        timeout: seconds per admin call.
        verify: TLS verification, e.g. ``SandboxServer.ca_file`` for a sandbox serving https.
    """

    def __init__(self, base_url: str, timeout: float = 10.0, verify: str | bool = True) -> None:
        tls = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/_admin", timeout=timeout, verify=tls
        )

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._http.close()

    def __enter__(self) -> SandboxAdminClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Json | None = None, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        response = self._http.request(method, path, json=body, params=query)
        if response.status_code >= 400:
            raise SandboxAdminError(response.status_code, response.text)
        return response.json() if response.content else None

    # --- people, rooms and events -------------------------------------------------------

    def reset(self) -> None:
        """Forget all users, events, subscriptions, tokens, faults and logs."""
        self._call("POST", "/reset")

    def create_user(
        self,
        email: str,
        *,
        display_name: str | None = None,
        time_zone: str = "UTC",
        working_hours: Json | None = None,
        client_id: str | None = None,
        aliases: tuple[str, ...] = (),
    ) -> Json:
        """Create a user with a calendar; the answer carries ``refresh_token`` and ``id``.

        ``aliases``: other addresses of the mailbox (Graph's ``proxyAddresses``).
        """
        spec = {
            "email": email,
            "displayName": display_name,
            "timeZone": time_zone,
            "workingHours": working_hours,
            "client_id": client_id,
            "aliases": list(aliases) or None,
        }
        return self._call("POST", "/users", {k: v for k, v in spec.items() if v is not None})

    def users(self) -> list[Json]:
        """All users."""
        return self._call("GET", "/users")

    def issue_refresh_token(self, user: str, client_id: str | None = None) -> str:
        """Another refresh token for ``user`` (email or Graph id)."""
        body = {"client_id": client_id} if client_id else {}
        return self._call("POST", f"/users/{user}/refresh-tokens", body)["refresh_token"]

    def create_room(
        self,
        email: str,
        name: str | None = None,
        capacity: int = 0,
        building: str = "",
        floor: str = "",
    ) -> Json:
        """Create a bookable room."""
        spec = {
            "email": email,
            "name": name,
            "capacity": capacity,
            "building": building,
            "floor": floor,
        }
        return self._call("POST", "/rooms", {k: v for k, v in spec.items() if v is not None})

    def create_event(self, user: str, event: Json, **options: Any) -> Json:
        """Create an event in ``user``'s calendar as they would in the calendar app.

        Options are provider query parameters, e.g. ``sendUpdates="none"`` for Google.
        """
        return self._call("POST", f"/users/{user}/events", event, **options)

    def create_events(self, user: str, events: list[Json], **options: Any) -> list[Json]:
        """Create many events in one call."""
        return self._call("POST", f"/users/{user}/events/batch", {"events": events}, **options)

    def update_event(self, user: str, event_id: str, changes: Json, **options: Any) -> Json:
        """Change an event (patch semantics)."""
        return self._call("PATCH", f"/users/{user}/events/{event_id}", changes, **options)

    def cancel_event(self, user: str, event_id: str, **options: Any) -> None:
        """Cancel a meeting as its organizer would."""
        self._call("POST", f"/users/{user}/events/{event_id}/cancel", **options)

    def delete_event(self, user: str, event_id: str, **options: Any) -> None:
        """Delete an event."""
        self._call("DELETE", f"/users/{user}/events/{event_id}", **options)

    def events(self, user: str) -> list[Json]:
        """Every stored event of ``user``, deleted ones included."""
        return self._call("GET", f"/users/{user}/events")

    # --- what happened ------------------------------------------------------------------

    def invitations(self, recipient: str | None = None) -> list[Json]:
        """Invitations, updates and cancellations sent, optionally to one recipient."""
        return self._call("GET", "/invitations", recipient=recipient)

    def requests(self) -> list[Json]:
        """Provider calls: method, path, query, user, status, started, finished."""
        return self._call("GET", "/requests")

    def clear_requests(self) -> None:
        """Empty the provider-call log."""
        self._call("DELETE", "/requests")

    def deliveries(self) -> list[Json]:
        """Notification delivery attempts: url, headers, item, outcome, status."""
        return self._call("GET", "/deliveries")

    def wait_for_deliveries(
        self,
        count: int,
        predicate: Callable[[Json], bool] = lambda d: d["outcome"] == "delivered",
        timeout: float = 5.0,
    ) -> list[Json]:
        """Poll until ``count`` deliveries match ``predicate``; returns them (maybe fewer)."""
        deadline = time.monotonic() + timeout
        while True:
            matching = [d for d in self.deliveries() if predicate(d)]
            if len(matching) >= count or time.monotonic() > deadline:
                return matching
            time.sleep(0.02)

    def subscriptions(self) -> list[Json]:
        """Live Google channels or Graph subscriptions."""
        return self._call("GET", "/subscriptions")

    # --- faults -------------------------------------------------------------------------

    def faults(self) -> Json:
        """The armed faults."""
        return self._call("GET", "/faults")

    def fail_next(
        self,
        status: int,
        count: int = 1,
        *,
        path: str | None = None,
        method: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next ``count`` provider calls (matching regex ``path``) with ``status``.

        429 and 503 carry ``Retry-After`` (one second unless ``retry_after`` says otherwise).
        """
        spec = {"kind": "status", "status": status, "count": count, "path": path, "method": method}
        spec["retry_after"] = retry_after
        self._call("POST", "/faults", {k: v for k, v in spec.items() if v is not None})

    def add_latency(
        self,
        seconds: float,
        count: int | None = None,
        path: str | None = None,
        *,
        after: bool = False,
    ) -> None:
        """Delay provider calls by ``seconds`` (``count`` calls, or until cleared); with
        ``after``, each call takes effect first and only its answer is held back."""
        spec = {"kind": "latency", "seconds": seconds, "count": count, "path": path}
        spec["after"] = after or None
        self._call("POST", "/faults", {k: v for k, v in spec.items() if v is not None})

    def drop_notifications(self, count: int = 1) -> None:
        """Lose the next ``count`` notifications."""
        self._call("POST", "/faults", {"kind": "notifications", "mode": "drop", "count": count})

    def duplicate_notifications(self, count: int = 1) -> None:
        """Deliver each of the next ``count`` notifications twice."""
        self._call(
            "POST", "/faults", {"kind": "notifications", "mode": "duplicate", "count": count}
        )

    def reorder_notifications(self, count: int = 2) -> None:
        """Hold the next ``count`` notifications, then deliver them newest first."""
        self._call("POST", "/faults", {"kind": "notifications", "mode": "reorder", "count": count})

    def clear_faults(self) -> None:
        """Disarm all faults (held notifications are released)."""
        self._call("DELETE", "/faults")

    # --- tokens and settings ------------------------------------------------------------

    def expire_sync_tokens(self, user: str | None = None) -> int:
        """Google: next ``syncToken`` use gets 410; Graph: next delta link gets 410."""
        return self._call("POST", "/tokens/expire-sync", {"user": user})["expired"]

    def expire_access_tokens(self, user: str | None = None) -> int:
        """Expire live access tokens now (API calls then get 401 until refreshed)."""
        return self._call("POST", "/tokens/expire-access", {"user": user})["expired"]

    def revoke_refresh_tokens(
        self, *, refresh_token: str | None = None, user: str | None = None
    ) -> int:
        """Revoke one refresh token or all of a user's; refreshing then fails ``invalid_grant``."""
        body = {"refresh_token": refresh_token, "user": user}
        return self._call("POST", "/tokens/revoke", body)["revoked"]

    def set_token_lifetime(self, seconds: int) -> None:
        """Lifetime of access tokens issued from now on."""
        self._call("POST", "/tokens/lifetime", {"seconds": seconds})

    def configure(self, **settings: Any) -> Json:
        """Provider settings, e.g. Google ``meet_delay_seconds``."""
        return self._call("POST", "/settings", settings)

    # --- browser OAuth (authorization-code grant) ----------------------------------------

    def register_oauth_client(
        self, client_id: str, client_secret: str, redirect_uris: list[str] | None = None
    ) -> Json:
        """Register an OAuth client; ``redirect_uris`` limits where codes may be sent (any
        http(s) URI when omitted). ``sandbox-client`` / ``sandbox-secret`` always exists."""
        body = {"client_id": client_id, "client_secret": client_secret}
        return self._call("POST", "/oauth/clients", {**body, "redirect_uris": redirect_uris})

    def configure_oauth(self, **settings: Any) -> Json:
        """The consent page's behaviour: ``consent="allow"|"deny"`` (deny sends the browser
        back with ``error=access_denied``), ``user`` (who signs in, whatever ``login_hint``
        says; None to follow the hint) and ``code_lifetime_seconds``. Returns them all."""
        return self._call("POST", "/oauth/settings", settings)

    def trigger_lifecycle(self, subscription_id: str, event: str) -> None:
        """Graph only: send ``reauthorizationRequired``, ``subscriptionRemoved`` or ``missed``."""
        self._call("POST", f"/subscriptions/{subscription_id}/lifecycle", {"lifecycleEvent": event})
