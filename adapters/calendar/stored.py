"""The tokens of a connection as stored (encrypted) in SQL, and back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from adapters.calendar.source import RefreshedTokens


class StoredTokensError(ValueError):
    """The stored credentials are not the JSON this module writes."""


@dataclass(frozen=True)
class StoredTokens:
    refresh_token: str = field(repr=False)
    access_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None

    def dump(self) -> str:
        return json.dumps(
            {
                "refresh_token": self.refresh_token,
                "access_token": self.access_token,
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            }
        )

    @classmethod
    def load(cls, text: str) -> StoredTokens:
        try:
            raw = json.loads(text)
            expires = raw.get("expires_at")
            return cls(
                refresh_token=str(raw["refresh_token"]),
                access_token=raw.get("access_token"),
                expires_at=datetime.fromisoformat(expires) if expires else None,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise StoredTokensError("stored credentials are unreadable") from None

    @classmethod
    def refreshed(cls, tokens: RefreshedTokens) -> StoredTokens:
        return cls(tokens.refresh_token, tokens.access_token, tokens.expires_at)
