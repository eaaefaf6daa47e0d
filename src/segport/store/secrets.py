"""Secrets at rest: tokens and client secrets are encrypted with Fernet before they reach the database.

The key comes from SEGPORT_SECRET_KEY, or from a key file created on first run in the data directory with
mode 0600. Plaintext exists only in memory, for as long as a request needs it.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from segport.config import Settings
from segport.errors import ConfigurationError

PLACEHOLDERS = {"", "changeme", "change-me", "change_me", "secret", "placeholder", "xxx"}


class SecretBox:
    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError):
            raise ConfigurationError(
                "SEGPORT_SECRET_KEY is not a valid key.",
                hint="Generate one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'",
            ) from None

    def __repr__(self) -> str:
        return "SecretBox(***)"

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise ConfigurationError(
                "A stored secret cannot be decrypted with the current secret key.",
                hint="Use the key the secrets were stored with (SEGPORT_SECRET_KEY or the key file in the "
                "data directory), or reauthorize the connection.",
            ) from None


def key_file(home: Path) -> Path:
    return home / "secret.key"


def load_secret_box(settings: Settings) -> SecretBox:
    """The box for this installation's key; creates the key file (0600) on first run."""
    if settings.secret_key is not None:
        value = settings.secret_key.get_secret_value().strip()
        if value.lower() in PLACEHOLDERS:
            raise ConfigurationError(
                "SEGPORT_SECRET_KEY is a placeholder.",
                hint="Set it to a real Fernet key, or unset it to use a key file in the data directory.",
            )
        return SecretBox(value.encode("ascii"))
    path = key_file(settings.home)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(Fernet.generate_key())
    return SecretBox(path.read_bytes().strip())
