"""Whose calendar a grant opens, as the provider says (R37).

A refresh token says nothing about the person it belongs to, so before a calendar is
attached to a user the provider is asked whose calendar the grant reads:

- Google: the id of the ``primary`` calendar, which is its owner's address;
- Graph: ``/me``'s ``mail``, ``userPrincipalName`` and ``proxyAddresses`` (the ``smtp:``
  ones; ``sip:``, ``x500:`` and the like are not mail addresses).

Both go through the clients the sync uses (google-api-python-client, msgraph-sdk) with the
access token the connect has just refreshed. Failures are ``CalendarSourceError``s.
"""

from __future__ import annotations

import httpx
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options import RetryHandlerOption
from msgraph.generated.models.user import User
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

from adapters.calendar.errors import ProviderUnavailable
from adapters.calendar.google.errors import call_google
from adapters.calendar.google.source import build_session, close_session
from adapters.calendar.graph.auth import DEFAULT_SCOPE
from adapters.calendar.graph.http import translate_api_error
from adapters.calendar.graph.source import GraphRuntime
from adapters.calendar.retry import RetryPolicy
from adapters.calendar.source import Credentials
from domain.model import Provider

#: Seconds a lookup may take; someone is waiting on the connect.
OWNER_TIMEOUT = 30.0
_GRAPH_FIELDS = ["mail", "userPrincipalName", "proxyAddresses"]


def calendar_owner_addresses(credentials: Credentials) -> frozenset[str]:
    """The addresses of the person whose calendar ``credentials`` open, lower-cased.

    Empty when the provider names nobody (the caller must then refuse the grant).

    Raises:
        AuthorizationRevoked, ProviderUnavailable, ProviderRejected: as the sync would.
    """
    if credentials.provider is Provider.GOOGLE:
        return _google_owner(credentials)
    return _graph_owner(credentials)


def _google_owner(credentials: Credentials) -> frozenset[str]:
    session = build_session(credentials)
    try:
        answer = call_google(
            RetryPolicy(),
            lambda: session.service.calendars().get(calendarId="primary").execute(num_retries=0),
            "calendars.get",
        )
    finally:
        close_session(session)
    owner = (answer or {}).get("id")
    return frozenset({str(owner).lower()}) if owner else frozenset()


def _graph_owner(credentials: Credentials) -> frozenset[str]:
    # A runtime of its own: a connect is rare, and its loop thread must not outlive it.
    runtime = GraphRuntime(
        "calsync-graph-owner",
        retry=None,
        kiota_max_retries=RetryHandlerOption.DEFAULT_MAX_RETRIES,
        timeout=OWNER_TIMEOUT,
        max_cached_users=1,
        scope=DEFAULT_SCOPE,
    )
    query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(select=_GRAPH_FIELDS)
    try:
        me = runtime.run(
            runtime.session(credentials).client.me.get(RequestConfiguration(query_parameters=query))
        )
    except APIError as error:
        raise translate_api_error(error, "GET /me") from None
    except (httpx.TransportError, TimeoutError) as error:
        raise ProviderUnavailable(f"Microsoft Graph unreachable: {error!r}") from None
    finally:
        runtime.close()
    return graph_user_addresses(me)


def graph_user_addresses(me: User | None) -> frozenset[str]:
    """A Graph user's mail addresses: ``mail``, the UPN and the ``smtp:`` proxy addresses."""
    if me is None:
        return frozenset()
    proxies = [
        proxy.partition(":")[2]
        for proxy in me.proxy_addresses or []
        if proxy.lower().startswith("smtp:")
    ]
    found = [me.mail, me.user_principal_name, *proxies]
    return frozenset(address.lower() for address in found if address)
