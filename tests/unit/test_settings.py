"""Settings from the environment: any value either loads or is named with its fix, never a crash."""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segport.config import Settings, load_settings
from segport.errors import ConfigurationError
from segport.limits import LARGEST_INTEGER

NAMES = sorted(f"SEGPORT_{name.upper()}" for name in Settings.model_fields)
VALUES = st.one_of(
    st.sampled_from(["", "0", "-1", "1e6", "abc", "2", "true", "none", "9" * 40, "nan", "inf", "mysql://x/y"]),
    st.text(max_size=20).filter(lambda text: "\x00" not in text),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=4))
def test_any_environment_loads_or_names_each_wrong_setting(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]
) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    refusal: ConfigurationError | None = None
    try:
        loaded = load_settings()
    except ConfigurationError as refused:  # anything else (a ValidationError, a crash) fails the test
        refusal = refused
    if refusal is not None:
        lines = refusal.message.splitlines()
        assert lines[0] == "Some settings are not valid:" and all(
            line.strip().startswith("SEGPORT_") for line in lines[1:]
        )
    else:
        assert_usable(loaded)


SECONDS_IN = {"_seconds": 1, "_timeout": 1, "_minutes": 60, "_hours": 3600}


def assert_usable(loaded: Settings) -> None:
    """What loads can be used: each duration moves the clock and bounds a wait, each number fits the store."""
    for name in Settings.model_fields:
        value = getattr(loaded, name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        assert math.isfinite(value) and abs(value) <= LARGEST_INTEGER, name
        factor = next((seconds for suffix, seconds in SECONDS_IN.items() if name.endswith(suffix)), None)
        if factor is not None:
            datetime.now(UTC) + timedelta(seconds=value * factor)  # OverflowError beyond what a date can be
            assert value * factor <= threading.TIMEOUT_MAX, name


def test_a_nul_in_a_settings_files_text_is_refused(tmp_path: Path) -> None:
    """A TOML file can write a NUL ("\\u0000"); the environment cannot. PostgreSQL refused the user's name
    at the first audit entry, and a home holding one made every file operation raise ValueError."""
    for key in ("user", "home", "secret_key"):
        settings_file = tmp_path / f"{key}.toml"
        settings_file.write_text(f'{key} = "a\\u0000b"\n', encoding="utf-8")
        with pytest.raises(ConfigurationError, match=f"{key} in .*must not hold a NUL character"):
            load_settings(config_file=settings_file)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SEGPORT_EXPORT_LIMIT", "-1", "greater than 0"),
        ("SEGPORT_EXPORT_LIMIT", "1e6", "valid integer"),
        ("SEGPORT_MIRROR_MAX_REMOVAL_SHARE", "2", "less than or equal to 1"),
        ("SEGPORT_DATABASE_URL", "mysql://u@h/db", "SQLite or PostgreSQL"),
        # Kept beside what the user did: PostgreSQL refused a longer one at the first write.
        ("SEGPORT_USER", "v" * 256, "at most 255 characters"),
        # Each passed its lower bound, then stopped every worker (OverflowError) at its first lease or wait.
        ("SEGPORT_LEASE_SECONDS", "1e300", "must be at most a year (31,536,000 seconds)"),
        ("SEGPORT_WORKER_IDLE_SECONDS", "inf", "must be a finite number"),
        ("SEGPORT_SESSION_MAX_HOURS", "9000", "must be at most a year (8,760 hours)"),
        ("SEGPORT_HTTP_READ_TIMEOUT", "1e9", "must be at most a year (31,536,000 seconds)"),
        ("SEGPORT_EXPORT_LIMIT", "9" * 20, "must be at most 9,223,372,036,854,775,807"),
    ],
)
def test_a_wrong_setting_is_named_with_what_it_must_be(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    assert f"{name}={value!r}"[:70] in refused.value.message and says in refused.value.message
