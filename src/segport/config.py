"""Settings: one typed object, built once by the CLI or the app factory and passed down.

Nothing in segport reads the environment at import time; call `load_settings()` where the program starts.
Each setting comes from, first to last: an explicit override, the environment (SEGPORT_NAME), the settings
file (TOML, named by SEGPORT_CONFIG or `segport --config FILE`; keys are the names without the prefix), the
default.
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from segport.errors import ConfigurationError
from segport.limits import LARGEST_INTEGER

CONSTANT_CONTACT_API_BASE = "https://api.cc.email/v3"
CONSTANT_CONTACT_AUTH_BASE = "https://authz.constantcontact.com/oauth2/default/v1"


CONFIG_VARIABLE = "SEGPORT_CONFIG"
# The unit of a duration setting, by its name's ending (the HTTP timeouts are seconds too), and a year in it.
_DURATION_UNITS = (("_seconds", "seconds"), ("_timeout", "seconds"), ("_minutes", "minutes"), ("_hours", "hours"))
_YEAR_IN = {"seconds": 365 * 86_400, "minutes": 365 * 1_440, "hours": 365 * 24}
# The settings file's values while load_settings builds a Settings (a context variable: threads and tests
# that load settings at once each see their own).
_FILE_VALUES: ContextVar[dict[str, Any]] = ContextVar("segport_settings_file", default={})  # noqa: B039


class _SettingsFile(PydanticBaseSettingsSource):
    """The settings file, below the environment: a key set in both takes the environment's value."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return _FILE_VALUES.get().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE_VALUES.get())


class Settings(BaseSettings):
    """Every setting segport reads, with the environment variable that sets it (SEGPORT_ prefix)."""

    model_config = SettingsConfigDict(env_prefix="SEGPORT_", extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _SettingsFile(settings_cls))

    home: Path = Field(default_factory=lambda: Path.home() / ".segport")
    # Unset: a SQLite file in `home`. Or any SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db.
    database_url: str | None = None
    # Fernet key (32 url-safe base64 bytes) for tokens and secrets at rest; unset: a key file in `home`.
    secret_key: SecretStr | None = None
    # Who is acting, recorded on consents, runs and changes made from the CLI (default: the OS user). At most
    # as long as a user's name: it is kept beside what it did (PostgreSQL refused a longer one at the write).
    user: str | None = Field(default=None, max_length=255)

    # Where Constant Contact lives. Point both at an emulator (`segport emulator`) or at the real API.
    cc_api_base: str = CONSTANT_CONTACT_API_BASE
    cc_auth_base: str = CONSTANT_CONTACT_AUTH_BASE
    cc_client_id: str | None = None
    cc_client_secret: SecretStr | None = None
    cc_redirect_uri: str = "http://127.0.0.1:8788/oauth/callback"

    # Constant Contact's documented limits per API key; lower them to leave room for other applications.
    # (Partner keys get up to 10 requests/s from Constant Contact's API support: raise it only for those.)
    cc_requests_per_second: float = Field(default=4.0, gt=0, le=10.0)
    cc_requests_per_day: int = Field(default=10_000, gt=0)

    # Seconds. Every request has explicit timeouts; uploads of 4 MB bodies get a long write timeout.
    http_connect_timeout: float = Field(default=10.0, gt=0)
    http_read_timeout: float = Field(default=60.0, gt=0)
    http_write_timeout: float = Field(default=120.0, gt=0)

    # Retries of transient failures outside a run (a list check, a sign-in) are bounded by attempts and time.
    retry_attempts: int = Field(default=6, ge=1)
    retry_total_seconds: float = Field(default=300.0, gt=0)
    # The pause before a retry starts at the base, doubles up to the maximum, with jitter; a full activity queue
    # (1,000 activities) is waited for in steps of the queue delay.
    retry_base_delay_seconds: float = Field(default=1.0, gt=0, le=60)
    retry_max_delay_seconds: float = Field(default=60.0, gt=0, le=3600)
    retry_queue_delay_seconds: float = Field(default=30.0, gt=0, le=3600)
    # A run waits out throttling and outages (every retry of every request counts, and every pause waiting for
    # the profiles' warehouse) for at most this long in all, then fails; a 1,000,000-contact export needs about
    # 30 requests, so 6 hours leaves hours of slack.
    # An exhausted daily quota or a revoked sign-in does not count: the run is parked until the quota resets
    # (00:00 UTC) or the connection is reauthorized, and then resumes by itself.
    run_wait_seconds: float = Field(default=6 * 3600.0, gt=0)

    # How long to wait for one bulk activity to reach a final state, and the first pause between two polls
    # (it doubles up to 15 s).
    activity_wait_seconds: float = Field(default=3600.0, gt=0)
    activity_poll_seconds: float = Field(default=1.0, gt=0, le=15)
    # How long a write waits for another process that holds SQLite's write lock before it gives up.
    database_busy_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # How long one query may run in a PostgreSQL warehouse (each fetch of a run's member stream is one): a lock
    # held there (a schema change, a load) made segport wait for ever, its run Processing with nothing said.
    warehouse_query_timeout_seconds: float = Field(default=900.0, ge=1, le=86_400)

    # A profile import that would leave fewer than (1 - this share) of the profiles loaded now, or none, is refused
    # unless allowed (--allow-shrink): one careless file must not empty every segment.
    profiles_max_shrink_share: float = Field(default=0.5, gt=0, le=1)
    # The most rows, and (for Parquet, whose pages may expand a thousandfold) bytes of data, one import may hold.
    profiles_max_rows: int = Field(default=20_000_000, gt=0)
    profiles_max_bytes: int = Field(default=8_000_000_000, gt=0)

    # At most this many profiles per export; a run over it ends Skipped before anything is sent.
    export_limit: int = Field(default=1_000_000, gt=0)
    # A mirror run that would remove more than this share of the list stops before removing anything.
    mirror_max_removal_share: float = Field(default=0.2, gt=0, le=1)
    # Batch caps below Constant Contact's own (40,000 contacts, 4 MB); lower them to send smaller batches.
    batch_max_contacts: int = Field(default=40_000, gt=0, le=40_000)
    batch_max_bytes: int = Field(default=4_000_000, gt=1000, le=4_000_000)
    # Where the API is reached by browsers; its /oauth/callback must be a redirect URI of the application.
    api_public_url: str = "http://127.0.0.1:8787"
    # CSV files segport writes (rows not sent, segment members) put an apostrophe before text a spreadsheet would
    # run as a formula (=, +, -, @, tab, carriage return: OWASP's CSV injection rule); true writes values as-is.
    csv_raw: bool = False
    # Logs of serve, worker and scheduler: "text" lines for people, or "json": one object a line (time, level,
    # logger, message, and run_id while a worker works a run) for a log collector.
    log_format: Literal["text", "json"] = "text"
    # /metrics answers a Bearer token: this one (for Prometheus), or any user's API token; or anyone when public.
    metrics_token: SecretStr | None = None
    metrics_public: bool = False
    # How many requests `segport serve` works on at once in its threads (the others wait their turn): fewer
    # threads spend less CPU handing Python's lock around. Routes waiting on Constant Contact, a webhook or a mail
    # server have a pool of their own (segport/server/threads.py).
    api_threads: int = Field(default=4, ge=1, le=1000)
    # The largest request body `segport serve` reads (JSON, forms), and the largest profile upload.
    request_max_bytes: int = Field(default=1_000_000, ge=10_000)
    upload_max_bytes: int = Field(default=2_000_000_000, ge=10_000)
    # Web UI sessions end after this long without a request, and at the latest this long after signing in.
    session_idle_minutes: float = Field(default=120.0, gt=0)
    session_max_hours: float = Field(default=12.0, gt=0)
    # After this many wrong passwords for one name in `sign_in_lockout_minutes`, that name is refused until
    # the window passes (or an admin sets a new password): guessing stays slow even from many addresses.
    sign_in_attempts: int = Field(default=5, ge=1)
    sign_in_lockout_minutes: float = Field(default=15.0, gt=0)
    # Seconds the CLI waits for the browser to come back from Constant Contact's sign-in page.
    sign_in_timeout_seconds: float = Field(default=300.0, gt=0)

    # A worker holds a run by a lease it renews every third of this; a dead worker's run is taken over
    # after it expires (at once when that worker ran on this host).
    lease_seconds: float = Field(default=60.0, ge=3)
    # How often the scheduler looks for due ticks, and how late a tick may still fire (a scheduler that
    # was down longer than this skips the moments it missed rather than running them all at once).
    scheduler_interval_seconds: float = Field(default=5.0, gt=0)
    # Constant Contact expires a refresh token unused for 180 days; the scheduler renews the tokens of a
    # connection nobody has used for this many days (connections.keep_alive), well inside that window.
    token_keep_alive_days: int = Field(default=30, ge=1, le=150)
    schedule_catch_up_seconds: float = Field(default=900.0, gt=0)
    # How long an idle worker sleeps before looking for work again.
    worker_idle_seconds: float = Field(default=1.0, gt=0)
    # A Successful run raises an alert (a warning on the run, and a webhook call) when more than this share
    # of its members had an invalid email or were refused, or when its membership changed by more than this
    # share since the export's previous successful run. 0 turns either off.
    alert_refused_share: float = Field(default=0.1, ge=0, le=1)
    alert_member_change_share: float = Field(default=0.5, ge=0)
    # Called with a run's summary when it ends Failure or Skipped, or with alerts (as is each connection's own).
    webhook_url: str | None = None
    # Webhooks go to public hosts only; true lets them call this machine or its private network.
    webhook_allow_internal: bool = False
    webhook_attempts: int = Field(default=4, ge=1)
    webhook_backoff_seconds: float = Field(default=1.0, ge=0)
    # Email alerts go through this SMTP server (without a host and a sender, email alerts cannot be added).
    # starttls: plain connection upgraded (port 587); tls: TLS from the start (port 465); none: plain (port 25,
    # a relay on this machine or its network).
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)

    @field_validator("*")
    @classmethod
    def _countable_and_storable(cls, value: Any, info: ValidationInfo) -> Any:
        """Every number finite and within what the clock and the store can count: a lease of 1e300 seconds,
        or an infinite idle time, passed the bounds above and then stopped each worker with OverflowError. No
        text holds a NUL."""
        if isinstance(value, str | Path | SecretStr):
            text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            if "\x00" in text:  # a settings file's "\u0000": no database keeps it, no file name holds it
                raise ValueError("must not hold a NUL character (0x00)")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        name = info.field_name or ""
        unit = next((unit for suffix, unit in _DURATION_UNITS if name.endswith(suffix)), None)
        if unit is not None and value > _YEAR_IN[unit]:
            raise ValueError(f"must be at most a year ({_YEAR_IN[unit]:,} {unit})")
        if value > LARGEST_INTEGER:
            raise ValueError(f"must be at most {LARGEST_INTEGER:,}")
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, url: str | None) -> str | None:
        if url is None or not url.strip():
            return None
        scheme = url.split(":", 1)[0].lower()
        if scheme.split("+")[0] not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(
                f"segport stores its data in SQLite or PostgreSQL, not {scheme.split('+')[0]!r}; use "
                "postgresql://user@host/database, or unset it for the SQLite file in SEGPORT_HOME"
            )
        return "postgresql" + url[len(scheme.split("+")[0]) :] if scheme.startswith("postgres:") else url

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'segport.db'}"

    @property
    def actor(self) -> str:
        import getpass

        return self.user or getpass.getuser()


def load_settings(*, config_file: Path | None = None, **overrides: object) -> Settings:
    """Read settings from the environment and the settings file (`config_file`, else SEGPORT_CONFIG), with
    explicit overrides winning; a wrong value or file is named with its fix."""
    path = config_file or (Path(os.environ[CONFIG_VARIABLE]) if os.environ.get(CONFIG_VARIABLE) else None)
    from_file = read_settings_file(path) if path is not None else {}
    token = _FILE_VALUES.set(from_file)
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as invalid:
        raise settings_problem(invalid, path, from_file) from None
    finally:
        _FILE_VALUES.reset(token)


def read_settings_file(path: Path) -> dict[str, Any]:
    """The file's settings, every key a known setting; a missing file, bad TOML or a misspelt key is refused."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            f"The settings file {path} does not exist.",
            hint=f"Create it, or point {CONFIG_VARIABLE} (or --config) at the right file.",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"The settings file {path} cannot be read ({type(exc).__name__}).",
            hint="Check its permissions, and that it is UTF-8 text.",
        ) from None
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(
            f"The settings file {path} is not valid TOML: {exc}.",
            hint='Each line is name = value, e.g. database_url = "postgresql://segport@db/segport".',
        ) from None
    known = set(Settings.model_fields)
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key.lower().removeprefix("segport_"), sorted(known), n=1)
            raise ConfigurationError(
                f"The settings file {path} sets {key!r}, which is not a setting.",
                hint=(f"Did you mean {close[0]!r}? " if close else "")
                + "Keys are the settings' names without SEGPORT_, in lower case (docs/production.md lists them).",
            )
    return values


def settings_problem(
    invalid: ValidationError, path: Path | None = None, from_file: dict[str, Any] | None = None
) -> ConfigurationError:
    """One line per wrong setting: where it was set (the variable or the file's key), the value given, what it
    must be."""
    lines = []
    for error in invalid.errors(include_url=False):
        key = "_".join(str(part) for part in error["loc"])
        environment = "SEGPORT_" + key.upper()
        name = f"{key} in {path}" if from_file and key in from_file and environment not in os.environ else environment
        given = error.get("input")
        shown = repr(given)[:60] if isinstance(given, str | int | float) else "(missing)"
        problem = error["msg"].removeprefix("Value error, ").rstrip(".")  # pydantic's prefix says nothing here
        lines.append(f"{name}={shown}: {problem}.")
    return ConfigurationError(
        "Some settings are not valid:\n  " + "\n  ".join(lines),
        hint="Fix them, or unset them for the defaults; docs/production.md lists every setting.",
    )
