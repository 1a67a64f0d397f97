"""Slack tokens encrypted at rest: the cipher, and the column type that applies it.

Tokens (bot, user, refresh) are encrypted with Fernet under SLACK_TOKEN_ENCRYPTION_KEY by a
column type, so every path through slack_sdk's store (install, token rotation, lookups) encrypts
on write and decrypts on read without copying its queries. A leaked database dump or backup then
holds no usable Slack token. Several comma-separated keys are accepted: the first encrypts,
all decrypt, so a key can be rotated without a flag day.
"""

from __future__ import annotations

from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Dialect, Text
from sqlalchemy.types import TypeDecorator

from bot.config import parse_token_encryption_keys

ENCRYPTION_KEY_VARIABLE = "SLACK_TOKEN_ENCRYPTION_KEY"
ENCRYPTED_PREFIX = "fernet:"


class TokenCipher:
    """Encrypts Slack tokens for the store; decrypts them for Bolt."""

    def __init__(self, keys: Iterable[str]) -> None:
        fernets = [Fernet(key.encode()) for key in keys]
        if not fernets:
            raise ValueError("at least one key is needed")
        self._fernet = MultiFernet(fernets)

    @classmethod
    def from_setting(cls, raw: str | None) -> TokenCipher:
        """The cipher for SLACK_TOKEN_ENCRYPTION_KEY, or a ConfigError saying how to make one."""
        return cls(parse_token_encryption_keys(raw))

    def encrypt(self, token: str) -> str:
        return ENCRYPTED_PREFIX + self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, stored: str) -> str:
        if not stored.startswith(ENCRYPTED_PREFIX):
            # Never hand Bolt a value we did not write: a plaintext token planted in the table
            # (or one written before encryption) must not be used.
            raise ValueError("a token in the store is not encrypted")
        try:
            return self._fernet.decrypt(stored.removeprefix(ENCRYPTED_PREFIX).encode()).decode()
        except InvalidToken:
            raise ValueError(
                f"a token in the store cannot be decrypted with {ENCRYPTION_KEY_VARIABLE}"
            ) from None


class EncryptedToken(TypeDecorator[str]):
    """A token column: Fernet ciphertext in the database, the token itself in Python.

    Without a cipher (migrations, schema comparison) it is a plain TEXT column: ciphertext is
    longer than slack_sdk's VARCHAR(200) allows for long rotating tokens.
    """

    impl = Text
    cache_ok = True

    def __init__(self, cipher: TokenCipher | None = None) -> None:
        super().__init__()
        self.cipher = cipher

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if self.cipher is None:
            raise ValueError("refusing to store a Slack token without encryption")
        return self.cipher.encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or self.cipher is None:
            return value
        return self.cipher.decrypt(value)
