"""Encryption at rest for what must be readable again (webhook secrets, replayable responses).

AES-256-GCM with a key derived (HKDF) from the server's secret key, one derivation per purpose so
that a value sealed for one use cannot be opened as another.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = "v1"


class SecretBox:
    def __init__(self, key_material: str, *, purpose: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
            key_material.encode()
        )
        self._aead = AESGCM(key)

    def encrypt(self, plain: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plain.encode(), _VERSION.encode())
        return f"{_VERSION}:" + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str) -> str:
        version, _, payload = token.partition(":")
        if version != _VERSION:
            raise ValueError(f"unknown encoding {version!r}")
        raw = base64.urlsafe_b64decode(payload)
        try:
            return self._aead.decrypt(raw[:12], raw[12:], _VERSION.encode()).decode()
        except InvalidTag:
            raise ValueError("the value cannot be decrypted with this secret key") from None
