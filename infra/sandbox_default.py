"""The provider sandboxes as the embedded default, as SQLite is for the store.

When no Google or Microsoft app is configured (neither ``CALSYNC_GOOGLE_CLIENT_ID`` nor
``CALSYNC_MICROSOFT_CLIENT_ID``) and the process is not in production mode, the command
line points every provider setting at the local sandboxes: ``calsync run`` starts them
(``infra.sandbox_run``), other commands (``calsync connect``) expect them where ``run`` or
``calsync sandbox`` put them. Production never uses them: with no app configured, a
connect answers ``not_configured``.

This module only computes addresses; it imports nothing of ``infra.sandbox``, which a
slimmed-down deployment may leave out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.settings import Settings

#: Loopback only: the sandboxes' admin API has no authentication.
SANDBOX_HOST = "127.0.0.1"
PORTS_VARIABLE = "CALSYNC_SANDBOX_PORTS"
#: Google, then Microsoft Graph: the ports ``calsync sandbox`` uses too.
DEFAULT_PORTS = (8081, 8082)
#: The sandboxes' published test client (``infra.sandbox.oauth_codes``), not a secret.
SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_CLIENT_SECRET = "sandbox-secret"  # noqa: S105 - the sandbox's published test client
#: Where each provider setting points on the sandboxes, by settings field and variable.
_ENDPOINTS = {
    "google_api_url": ("CALSYNC_GOOGLE_API_URL", "{google}/"),
    "google_token_url": ("CALSYNC_GOOGLE_TOKEN_URL", "{google}/token"),
    "google_auth_url": ("CALSYNC_GOOGLE_AUTH_URL", "{google}/o/oauth2/auth"),
    "graph_api_url": ("CALSYNC_GRAPH_API_URL", "{graph}/v1.0"),
    "microsoft_token_url": ("CALSYNC_MICROSOFT_TOKEN_URL", "{graph}/common/oauth2/v2.0/token"),
}


class SandboxPortsError(ValueError):
    """``CALSYNC_SANDBOX_PORTS`` is malformed (the message says how)."""


@dataclass(frozen=True)
class ProviderSandbox:
    """Where the two sandboxes listen; port 0 means any free port (``calsync run`` only)."""

    google_port: int
    graph_port: int
    host: str = SANDBOX_HOST

    @property
    def google_url(self) -> str:
        return f"http://{self.host}:{self.google_port}"

    @property
    def graph_url(self) -> str:
        return f"http://{self.host}:{self.graph_port}"


def provider_sandbox(env: Mapping[str, str]) -> ProviderSandbox | None:
    """The sandboxes to use, or None when a provider app is configured or in production.

    Raises:
        SandboxPortsError: ``CALSYNC_SANDBOX_PORTS`` is not two ports.
    """
    production = env.get("CALSYNC_PRODUCTION", "").strip().lower() in {"1", "true", "yes", "on"}
    configured = env.get("CALSYNC_GOOGLE_CLIENT_ID") or env.get("CALSYNC_MICROSOFT_CLIENT_ID")
    if production or configured:
        return None
    value = env.get(PORTS_VARIABLE, "").strip()
    if not value:
        return ProviderSandbox(*DEFAULT_PORTS)
    parts = [part.strip() for part in value.split(",")]
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() and int(p) < 65536 for p in parts):
        raise SandboxPortsError(
            f"{PORTS_VARIABLE} must be two ports, Google's then Graph's (e.g. 8081,8082), "
            f"got {value!r}"
        )
    return ProviderSandbox(int(parts[0]), int(parts[1]))


def with_provider_sandbox(
    settings: Settings, sandbox: ProviderSandbox | None, env: Mapping[str, str]
) -> Settings:
    """``settings`` pointed at ``sandbox``; a provider URL set in ``env`` is kept."""
    if sandbox is None:
        return settings
    roots = {"google": sandbox.google_url, "graph": sandbox.graph_url}
    # Any: replace() is typed per field, and these are all str fields of Settings.
    changes: dict[str, Any] = {
        field: template.format(**roots)
        for field, (variable, template) in _ENDPOINTS.items()
        if not env.get(variable)
    }
    for provider in ("google", "microsoft"):
        changes[f"{provider}_client_id"] = SANDBOX_CLIENT_ID
        changes[f"{provider}_client_secret"] = SANDBOX_CLIENT_SECRET
    return dataclasses.replace(settings, **changes)
