"""The authorization-code grant both sandboxes share: a consent page that consents at once.

Being a fake, the authorization endpoint shows no page: it "signs in" the user named by the
admin setting ``user``, else by ``login_hint``, else the only user there is, and sends the
browser straight back to ``redirect_uri`` with ``code`` and ``state`` (or with
``error=access_denied`` when the admin set ``consent`` to ``deny``).

The token endpoint's ``authorization_code`` grant then checks what the real ones check:
the client (id and secret, in the form or HTTP Basic), the code (known, unexpired, issued to
that client, used once: a second use fails even if the first did), the ``redirect_uri``
(equal to the authorization request's) and PKCE (``code_verifier`` against the
``code_challenge``, S256 or plain).

Clients are registered through the admin API; ``sandbox-client`` / ``sandbox-secret`` is
always there for manual use (``calsync sandbox``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from flask import Blueprint, Response, jsonify, request

from infra.sandbox.directory import Directory, Person
from infra.sandbox.errors import ApiError
from infra.sandbox.http_common import json_body
from infra.sandbox.ids import opaque_token
from infra.sandbox.request_log import ADMIN_PREFIX
from infra.sandbox.timeutil import utcnow

DEFAULT_CLIENT_ID = "sandbox-client"
DEFAULT_CLIENT_SECRET = "sandbox-secret"  # noqa: S105 - the sandbox's published test client
#: How long a code may wait for its exchange (Microsoft documents about 10 minutes).
DEFAULT_CODE_SECONDS = 300


class AuthorizeRefused(Exception):
    """The authorization request cannot even be answered with a redirect (unknown client,
    redirect URI not allowed): the provider shows an error page instead."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


class CodeGrantError(Exception):
    """The token endpoint refuses the code exchange (``status``, OAuth ``error``)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description


@dataclass
class RegisteredClient:
    client_id: str
    secret: str = field(repr=False)
    #: Allowed redirect URIs; empty allows any http(s) URI.
    redirect_uris: tuple[str, ...] = ()


@dataclass
class IssuedCode:
    """What an authorization code stands for, until it is redeemed."""

    client_id: str
    redirect_uri: str
    person: Person
    scope: str
    challenge: str | None
    method: str
    nonce: str | None
    expires_at: datetime


@dataclass
class ConsentSettings:
    """``consent``: ``allow`` or ``deny``; ``user``: who signs in whatever the hint says."""

    consent: str = "allow"
    user: str | None = None
    code_seconds: int = DEFAULT_CODE_SECONDS

    def as_dict(self) -> dict[str, Any]:
        return {
            "consent": self.consent,
            "user": self.user,
            "code_lifetime_seconds": self.code_seconds,
        }


class AuthorizationServer:
    """Registered clients, consent settings and outstanding codes; thread-safe."""

    def __init__(self, directory: Directory, directory_lock: threading.RLock) -> None:
        self._directory = directory
        self._directory_lock = directory_lock
        self._lock = threading.Lock()
        self._clients: dict[str, RegisteredClient] = {}
        self._codes: dict[str, IssuedCode] = {}
        self.settings = ConsentSettings()
        self.reset()

    def reset(self) -> None:
        """Forget registered clients (but the default one), codes and settings."""
        with self._lock:
            self._clients = {
                DEFAULT_CLIENT_ID: RegisteredClient(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
            }
            self._codes.clear()
            self.settings = ConsentSettings()

    def register(self, client_id: str, secret: str, redirect_uris: tuple[str, ...] = ()) -> None:
        """Register (or replace) an OAuth client."""
        with self._lock:
            self._clients[client_id] = RegisteredClient(client_id, secret, redirect_uris)

    def configure(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Change the consent settings named in ``spec``; returns them all.

        Raises:
            ValueError: an unknown ``consent`` or a bad lifetime.
        """
        with self._lock:
            if "consent" in spec:
                if spec["consent"] not in {"allow", "deny"}:
                    raise ValueError("consent must be 'allow' or 'deny'")
                self.settings.consent = spec["consent"]
            if "user" in spec:
                self.settings.user = spec["user"] or None
            if "code_lifetime_seconds" in spec:
                seconds = int(spec["code_lifetime_seconds"])
                if seconds < 0:
                    raise ValueError("code_lifetime_seconds must not be negative")
                self.settings.code_seconds = seconds
            return self.settings.as_dict()

    def authorize(self, args: Mapping[str, str]) -> str:
        """Answer an authorization request with the URL to send the browser back to.

        Raises:
            AuthorizeRefused: unknown client, or a redirect URI it may not use.
        """
        client = self._client(args.get("client_id", ""))
        if client is None:
            raise AuthorizeRefused("invalid_client", "The OAuth client was not found.")
        redirect_uri = args.get("redirect_uri", "")
        if urlsplit(redirect_uri).scheme not in {"http", "https"} or (
            client.redirect_uris and redirect_uri not in client.redirect_uris
        ):
            raise AuthorizeRefused(
                "redirect_uri_mismatch",
                "The redirect URI in the request does not match the ones authorized for the "
                "OAuth client.",
            )
        state = args.get("state")

        def back(**answer: str) -> str:
            if state is not None:
                answer["state"] = state
            return redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(answer)

        if args.get("response_type") != "code":
            return back(error="unsupported_response_type")
        challenge = args.get("code_challenge") or None
        method = args.get("code_challenge_method") or "plain"
        if challenge is not None and method not in {"S256", "plain"}:
            return back(error="invalid_request", error_description="unsupported PKCE method")
        settings = self.settings
        if settings.consent == "deny":
            return back(error="access_denied", error_description="The user declined consent.")
        person = self._signed_in(settings.user or args.get("login_hint"))
        if person is None:
            return back(error="login_required", error_description="No such sandbox user.")
        code = opaque_token(32)
        issued = IssuedCode(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            person=person,
            scope=args.get("scope", ""),
            challenge=challenge,
            method=method,
            nonce=args.get("nonce") or None,
            expires_at=utcnow() + timedelta(seconds=settings.code_seconds),
        )
        with self._lock:
            self._codes[code] = issued
        return back(code=code)

    def redeem(self, form: Mapping[str, str], authorization: str | None) -> IssuedCode:
        """Check an ``authorization_code`` token request; returns what the code stands for.

        Raises:
            CodeGrantError: bad client credentials (401 ``invalid_client``), or a code that
                is unknown, used, expired, another client's, for another redirect URI, or
                whose PKCE verifier does not match (400 ``invalid_grant``).
        """
        client_id, secret = _client_credentials(form, authorization)
        client = self._client(client_id)
        if client is None or not hmac.compare_digest(client.secret, secret):
            raise CodeGrantError(401, "invalid_client", "The OAuth client was not found.")
        with self._lock:
            issued = self._codes.pop(form.get("code", ""), None)  # used once, whatever follows
        if issued is None or issued.client_id != client.client_id:
            raise CodeGrantError(400, "invalid_grant", "The authorization code is invalid.")
        if issued.expires_at <= utcnow():
            raise CodeGrantError(400, "invalid_grant", "The authorization code has expired.")
        if form.get("redirect_uri") != issued.redirect_uri:
            raise CodeGrantError(
                400, "invalid_grant", "The redirect_uri does not match the authorization request."
            )
        if issued.challenge is not None and not _verifier_matches(
            form.get("code_verifier", ""), issued.challenge, issued.method
        ):
            raise CodeGrantError(
                400,
                "invalid_grant",
                "The code_verifier does not match the code_challenge.",
            )
        return issued

    def _client(self, client_id: str) -> RegisteredClient | None:
        with self._lock:
            return self._clients.get(client_id)

    def _signed_in(self, who: str | None) -> Person | None:
        with self._directory_lock:
            if who:
                return self._directory.find_user(who)
            people = list(self._directory.users.values())
        return people[0] if len(people) == 1 else None


def unsigned_jwt(claims: Mapping[str, Any]) -> str:
    """An ID token as the sandbox issues it: ``alg: none`` (clients take it from the token
    endpoint over TLS and need not check a signature)."""

    def part(value: Mapping[str, Any]) -> str:
        raw = json.dumps(dict(value), separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _client_credentials(form: Mapping[str, str], authorization: str | None) -> tuple[str, str]:
    """client_secret_basic (RFC 6749 2.3.1: form-encoded id and secret) or client_secret_post."""
    if authorization and authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        client_id, _, secret = decoded.partition(":")
        return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))
    return form.get("client_id", ""), form.get("client_secret", "")


def _verifier_matches(verifier: str, challenge: str, method: str) -> bool:
    if not verifier:
        return False
    if method == "plain":
        return hmac.compare_digest(verifier, challenge)
    digest = hashlib.sha256(verifier.encode()).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return hmac.compare_digest(expected, challenge)


def install_admin(bp: Blueprint, server: AuthorizationServer) -> None:
    """Add the OAuth admin routes to a sandbox's OAuth blueprint, and tie it to ``/_admin/reset``.

    ``POST /_admin/oauth/clients`` ``{"client_id", "client_secret", "redirect_uris"?}``
    registers a client; ``GET``/``POST /_admin/oauth/settings`` reads or changes
    ``consent`` (``allow``/``deny``), ``user`` (who signs in) and ``code_lifetime_seconds``.
    """

    def register_client() -> tuple[Response, int]:
        """Register an OAuth client: ``{"client_id", "client_secret", "redirect_uris"?}``."""
        body = json_body()
        client_id, secret = body.get("client_id"), body.get("client_secret")
        if not isinstance(client_id, str) or not client_id or not isinstance(secret, str):
            raise ApiError(400, "invalid", "client_id and client_secret are required strings")
        uris = body.get("redirect_uris") or []
        server.register(client_id, secret, tuple(str(u) for u in uris))
        return jsonify({"client_id": client_id, "redirect_uris": list(uris)}), 201

    def settings() -> Response:
        """Read or change the consent page: ``consent``, ``user``, ``code_lifetime_seconds``."""
        if request.method == "GET":
            return jsonify(server.settings.as_dict())
        try:
            return jsonify(server.configure(json_body()))
        except (TypeError, ValueError) as error:
            raise ApiError(400, "invalid", str(error)) from None

    def forget_on_reset(response: Response) -> Response:
        if request.method == "POST" and request.path == f"{ADMIN_PREFIX}/reset":
            server.reset()
        return response

    bp.add_url_rule(f"{ADMIN_PREFIX}/oauth/clients", view_func=register_client, methods=["POST"])
    bp.add_url_rule(f"{ADMIN_PREFIX}/oauth/settings", view_func=settings, methods=["GET", "POST"])
    bp.after_app_request(forget_on_reset)
