"""Settings: one typed object, built once by the CLI or the app factory and passed down.

Nothing in segport reads the environment at import time; call `load_settings()` where the program starts.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

CONSTANT_CONTACT_API_BASE = "https://api.cc.email/v3"
CONSTANT_CONTACT_AUTH_BASE = "https://authz.constantcontact.com/oauth2/default/v1"


class Settings(BaseSettings):
    """Every setting segport reads, with the environment variable that sets it (SEGPORT_ prefix)."""

    model_config = SettingsConfigDict(env_prefix="SEGPORT_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".segport")

    # Where Constant Contact lives. Point both at an emulator (`segport emulator`) or at the real API.
    cc_api_base: str = CONSTANT_CONTACT_API_BASE
    cc_auth_base: str = CONSTANT_CONTACT_AUTH_BASE
    cc_client_id: str | None = None
    cc_client_secret: SecretStr | None = None
    cc_redirect_uri: str = "http://127.0.0.1:8788/oauth/callback"

    # Constant Contact's documented limits per API key; lower them to leave room for other applications.
    cc_requests_per_second: float = Field(default=4.0, gt=0, le=4.0)
    cc_requests_per_day: int = Field(default=10_000, gt=0)

    # Seconds. Every request has explicit timeouts; uploads of 4 MB bodies get a long write timeout.
    http_connect_timeout: float = Field(default=10.0, gt=0)
    http_read_timeout: float = Field(default=60.0, gt=0)
    http_write_timeout: float = Field(default=120.0, gt=0)

    # Retries of transient failures are bounded by attempts and by total time.
    retry_attempts: int = Field(default=6, ge=1)
    retry_total_seconds: float = Field(default=300.0, gt=0)

    # How long to wait for one bulk activity to reach a final state.
    activity_wait_seconds: float = Field(default=3600.0, gt=0)


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]
