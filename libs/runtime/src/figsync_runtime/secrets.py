"""Secrets at rest: AES-GCM with a key from FIGSYNC_SECRET_KEY, bound to team and name."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# Development only: a well-known key so `make dev` works with no configuration. Outside
# development the services refuse to start without FIGSYNC_SECRET_KEY.
DEVELOPMENT_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"figsync-development").digest()).decode()


class SecretKeyError(ValueError):
    """The secret key is missing or malformed, or a secret cannot be decrypted with it."""


def generate_key() -> str:
    """A fresh key for FIGSYNC_SECRET_KEY (32 random bytes, URL-safe base64)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@dataclass(frozen=True)
class Sealed:
    nonce: bytes
    ciphertext: bytes
    key_id: str


class SecretBox:
    """Encrypts and decrypts team secrets; the team and secret name are authenticated data,
    so a ciphertext copied to another team or name does not decrypt."""

    def __init__(self, key: str) -> None:
        try:
            raw = base64.urlsafe_b64decode(key.encode() + b"=" * (-len(key) % 4))
        except (ValueError, TypeError) as error:
            raise SecretKeyError("secrets.bad_key: FIGSYNC_SECRET_KEY is not base64") from error
        if len(raw) != 32:
            raise SecretKeyError(
                "secrets.bad_key: FIGSYNC_SECRET_KEY must be 32 bytes in URL-safe base64 "
                "(make one with `figsync secret-key`)"
            )
        self._aead = AESGCM(raw)
        self.key_id = hashlib.sha256(raw).hexdigest()[:12]

    def seal(self, team: str, name: str, plaintext: str) -> Sealed:
        nonce = os.urandom(12)
        ciphertext = self._aead.encrypt(nonce, plaintext.encode(), f"{team}/{name}".encode())
        return Sealed(nonce, ciphertext, self.key_id)

    def open(self, team: str, name: str, sealed: Sealed) -> str:
        if sealed.key_id != self.key_id:
            raise SecretKeyError(
                f"secrets.key_mismatch: {team}/{name} was sealed with key {sealed.key_id}, "
                f"not the configured key {self.key_id}"
            )
        try:
            plain = self._aead.decrypt(sealed.nonce, sealed.ciphertext, f"{team}/{name}".encode())
        except InvalidTag as error:
            raise SecretKeyError(
                f"secrets.tampered: {team}/{name} failed authentication"
            ) from error
        return plain.decode()
