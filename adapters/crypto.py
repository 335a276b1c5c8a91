"""Encryption at rest for OAuth tokens, with key rotation (cryptography's MultiFernet)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class UnreadableSecret(ValueError):
    """Stored ciphertext does not open with any configured key."""


class TokenCipher:
    """Encrypts with the first key; decrypts with any of them, so keys can be rotated.

    ``keys`` is the value of ``CALSYNC_SECRET_KEY``: one or more comma-separated secrets of
    any form, newest first. Each is stretched into a Fernet key with SHA-256.
    """

    def __init__(self, keys: str) -> None:
        secrets = [k.strip() for k in keys.split(",") if k.strip()]
        if not secrets:
            raise ValueError("at least one secret key is needed")
        self._fernet = MultiFernet([Fernet(_fernet_key(s)) for s in secrets])

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, ciphertext: bytes) -> str:
        try:
            return self._fernet.decrypt(ciphertext).decode()
        except InvalidToken:
            raise UnreadableSecret(
                "stored credentials do not open with any configured key"
            ) from None

    def rotate(self, ciphertext: bytes) -> bytes:
        """Re-encrypt with the newest key (run over all rows after adding a key)."""
        return self._fernet.rotate(ciphertext)


def _fernet_key(secret: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())
