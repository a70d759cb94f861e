"""OAuth tokens are encrypted at rest with a key derived from SECRET_KEY."""

from __future__ import annotations

import pytest

from app.storage.encryption import TokenCipher, TokenDecryptionError

TOKEN = "BQD4x-example-access-token-0123456789"


def test_ciphertext_differs_from_token_and_decrypts_back():
    cipher = TokenCipher("key-one")
    blob = cipher.encrypt(TOKEN)
    assert TOKEN.encode() not in blob
    assert cipher.decrypt(blob) == TOKEN


def test_same_token_encrypts_differently_each_time():
    cipher = TokenCipher("key-one")
    assert cipher.encrypt(TOKEN) != cipher.encrypt(TOKEN)


def test_wrong_key_fails_loudly():
    blob = TokenCipher("key-one").encrypt(TOKEN)
    with pytest.raises(TokenDecryptionError, match="SECRET_KEY differs"):
        TokenCipher("key-two").decrypt(blob)


def test_tampered_ciphertext_fails_loudly():
    blob = bytearray(TokenCipher("key-one").encrypt(TOKEN))
    blob[-5] ^= 0x01
    with pytest.raises(TokenDecryptionError):
        TokenCipher("key-one").decrypt(bytes(blob))


def test_empty_secret_key_is_refused():
    with pytest.raises(ValueError):
        TokenCipher("")
