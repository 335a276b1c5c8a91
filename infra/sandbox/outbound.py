"""The sandbox's own outgoing HTTP (notifications and validation handshakes).

One pooled client per sandbox: building an ``httpx.Client`` loads the CA bundle, which
costs tens of milliseconds, too much to pay per notification.
"""

from __future__ import annotations

import threading

import httpx


class OutboundHttp:
    """A lazily created ``httpx.Client``, shared by threads (httpx clients allow that)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None

    def post(
        self, url: str | httpx.URL, *, content: bytes, headers: dict[str, str], timeout: float
    ) -> httpx.Response:
        """POST and return the response; raises ``httpx.HTTPError`` on transport failures."""
        return self._get().post(url, content=content, headers=headers, timeout=timeout)

    def close(self) -> None:
        """Close the pooled connections."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _get(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client()
            return self._client
