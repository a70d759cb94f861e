"""Encryption at rest for OAuth tokens, with a key derived from SECRET_KEY."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Fixed context strings: the derived key is only ever used for tokens, never equal to the session key.
_SALT = b"contextify/token-store/v1"
_INFO = b"oauth tokens at rest"


class TokenDecryptionError(RuntimeError):
    """A stored token could not be decrypted: it was written under another SECRET_KEY, or altered."""


class TokenCipher:
    """Authenticated symmetric encryption (Fernet) of token strings."""

    def __init__(self, secret_key: str) -> None:
        if not secret_key:
            raise ValueError("TokenCipher needs a non-empty SECRET_KEY.")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def encrypt(self, token: str) -> bytes:
        return self._fernet.encrypt(token.encode())

    def decrypt(self, blob: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(blob)).decode()
        except InvalidToken as exc:
            raise TokenDecryptionError(
                "A stored token cannot be decrypted: SECRET_KEY differs from the one it was saved with, or "
                "the row was altered. The user must log in again."
            ) from exc
