"""Console sign-in: operator tokens, the session cookie and CSRF tokens.

The session is a signed, timed cookie (itsdangerous, which Flask ships) holding a random
session id, the operator's name for the audit rows and a fingerprint of the token that
signed in: taking a token out of ``CALSYNC_CONSOLE_TOKEN`` ends its sessions at once.
A form's CSRF token is an HMAC of the session id; every POST must carry it. Comparisons
of secrets are constant-time. The cookie is scoped to ``/console``, so a console session
never reaches ``/api/v1``, whose bearer keys in turn never open the console.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "calsync_console"
#: Before sign-in: ties the sign-in form's CSRF token to this browser.
PRE_COOKIE = "calsync_console_pre"
PATH = "/console"
#: A session lasts a shift; then the operator signs in again.
MAX_AGE_SECONDS = 12 * 3600
PRE_MAX_AGE_SECONDS = 3600
#: Who the audit rows name: ``console:<name>``.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}")


@dataclass(frozen=True)
class Session:
    session_id: str
    operator: str

    @property
    def actor(self) -> str:
        return f"console:{self.operator}"


class Sessions:
    """Makes and checks session cookies and CSRF tokens with the console's signing key."""

    def __init__(self, signing_key: str, tokens: Sequence[str]) -> None:
        self._key = hashlib.sha256(b"calsync-console\0" + signing_key.encode()).digest()
        self._tokens = [t.encode() for t in tokens]
        self._signer = URLSafeTimedSerializer(self._key, salt="calsync-console-session")
        self._notes = URLSafeTimedSerializer(self._key, salt="calsync-console-notice")

    def sign_in(self, token: str, operator: str) -> str | None:
        """The cookie value of a new session, or None for a token that is not an operator's."""
        matched = self._matching(token.strip().encode())
        if matched is None or not NAME.fullmatch(operator):
            return None
        payload = {"sid": secrets.token_urlsafe(24), "op": operator, "tok": self._fp(matched)}
        return self._signer.dumps(payload)

    def session(self, cookie: str | None) -> Session | None:
        """The session the cookie holds, if it is ours, fresh, and its token still valid."""
        if not cookie:
            return None
        try:
            payload = self._signer.loads(cookie, max_age=MAX_AGE_SECONDS)
        except BadSignature:
            return None
        if not isinstance(payload, dict) or not self._token_still_valid(str(payload.get("tok"))):
            return None
        return Session(str(payload["sid"]), str(payload["op"]))

    def csrf_token(self, session_id: str) -> str:
        return hmac.new(self._key, b"csrf\0" + session_id.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session_id: str, sent: str | None) -> bool:
        # Bytes: compare_digest refuses non-ASCII text, which a forged field may hold.
        return hmac.compare_digest(self.csrf_token(session_id).encode(), (sent or "").encode())

    def notice(self, text: str) -> str:
        """``text`` signed, to be shown after a redirect without a forged link showing lies."""
        return self._notes.dumps(text)

    def read_notice(self, signed: str | None) -> str | None:
        if not signed:
            return None
        try:
            return str(self._notes.loads(signed, max_age=300))
        except BadSignature:
            return None

    def _matching(self, token: bytes) -> bytes | None:
        # Every configured token is compared, so the time taken says nothing about which.
        found = None
        for candidate in self._tokens:
            if hmac.compare_digest(candidate, token):
                found = candidate
        return found

    def _token_still_valid(self, fingerprint: str) -> bool:
        valid = False
        for candidate in self._tokens:
            valid |= hmac.compare_digest(self._fp(candidate), fingerprint)
        return valid

    def _fp(self, token: bytes) -> str:
        return hmac.new(self._key, b"token\0" + token, hashlib.sha256).hexdigest()[:32]
