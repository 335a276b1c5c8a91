"""Push channels: asking a provider to notify our webhooks when a user's calendar changes.

Google: a notification channel on the primary calendar's events (``events.watch``, stopped
with ``channels.stop``); the channel id is ours, and so is its ``token`` (the secret).
Graph: a subscription to ``users/{user}/events`` (``POST /subscriptions``, renewed with a
PATCH of ``expirationDateTime``, removed with DELETE); its id is Graph's, the secret goes
in ``clientState``. Graph calls our notification and lifecycle URLs with a validation
handshake before it answers the POST, so those URLs must be up and answering.

Every vendor error leaves as one of ``adapters.calendar.errors`` (STYLE-ANCHORS lesson 10).
``adapters.calendar.factory`` makes the adapters; this module imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from adapters.calendar.source import Credentials, RefreshedTokens

#: Longest channel id Google accepts.
MAX_GOOGLE_CHANNEL_ID = 64
#: Longest channel token Google accepts.
MAX_GOOGLE_TOKEN = 256
#: Longest ``clientState`` Graph accepts.
MAX_CLIENT_STATE = 128


@dataclass(frozen=True)
class OpenedChannel:
    """A channel the provider created.

    Attributes:
        id: the channel's id: ours for Google (the one passed to ``open``), Graph's
            subscription id for Microsoft. Notifications name the channel by it.
        resource_id: Google's ``resourceId`` (needed to stop the channel); for Graph the
            subscription id again.
        expires_at: when the provider will stop notifying (aware UTC).
    """

    id: str
    resource_id: str
    expires_at: datetime


class PushChannels(Protocol):
    """Opens, renews and closes push channels for one provider."""

    def verify(self, credentials: Credentials) -> RefreshedTokens:
        """Refresh the access token once, proving the grant works.

        Raises:
            AuthorizationRevoked: the refresh token was refused.
            ProviderUnavailable: the token endpoint is unreachable or failing.
            ProviderRejected: the token endpoint refused the OAuth client.
        """
        ...

    def open(
        self,
        credentials: Credentials,
        *,
        channel_id: str,
        secret: str,
        address: str,
        lifecycle_address: str | None,
        expires_at: datetime,
    ) -> OpenedChannel:
        """Ask the provider to notify ``address`` about changes of the user's calendar.

        Args:
            credentials: the user's grant.
            channel_id: our id for the channel (Google uses it; Graph assigns its own).
            secret: sent back with every notification (Google token, Graph clientState).
            address: the notification URL.
            lifecycle_address: Graph's lifecycle notification URL (Google ignores it).
            expires_at: the expiry asked for; the provider may grant less.

        Raises:
            ProviderRejected: the provider refused (a bad address, a failed handshake...).
            AuthorizationRevoked / ProviderUnavailable: as for ``verify``.
            ValueError: the id or secret is too long for the provider, or wrong credentials.
        """
        ...

    def renew(self, credentials: Credentials, channel_id: str, expires_at: datetime) -> datetime:
        """Extend a channel's life; returns the expiry granted.

        Raises:
            NotImplementedError: Google channels cannot be renewed (open a new one).
            ProviderRejected: the channel is gone (404) or the expiry is refused.
        """
        ...

    def close(self, credentials: Credentials, channel_id: str, resource_id: str | None) -> None:
        """Stop a channel; one the provider no longer knows counts as stopped.

        Raises:
            AuthorizationRevoked / ProviderUnavailable / ProviderRejected.
        """
        ...

    def shutdown(self) -> None:
        """Release cached clients and threads; the object must not be used afterwards."""
        ...
