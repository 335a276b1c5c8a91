"""A connection's OAuth credentials: its stored tokens plus this deployment's app and endpoints."""

from __future__ import annotations

from adapters.calendar.source import Credentials
from adapters.calendar.stored import StoredTokens
from domain.model import Provider
from infra.settings import Settings


def google_calendar_url(api_root: str) -> str:
    """The Calendar API endpoint under a Google API root (Google's, or the sandbox's)."""
    return api_root.rstrip("/") + "/calendar/v3/"


def credentials_for(
    settings: Settings, provider: Provider, user_email: str, tokens: StoredTokens
) -> Credentials:
    """A user's credentials with this deployment's OAuth client and endpoints.

    ``user`` is the e-mail for both providers (Graph takes a UPN where it takes an id).
    ``CALSYNC_GOOGLE_API_URL`` is an API root such as ``https://www.googleapis.com/`` (or
    the sandbox's root); the Calendar endpoint under it comes from ``google_calendar_url``.
    """
    google = provider is Provider.GOOGLE
    return Credentials(
        provider=provider,
        refresh_token=tokens.refresh_token,
        client_id=(settings.google_client_id if google else settings.microsoft_client_id) or "",
        client_secret=(
            settings.google_client_secret if google else settings.microsoft_client_secret
        )
        or "",
        token_url=settings.google_token_url if google else settings.microsoft_token_url,
        api_url=google_calendar_url(settings.google_api_url) if google else settings.graph_api_url,
        user=user_email,
        access_token=tokens.access_token,
        expires_at=tokens.expires_at,
    )
