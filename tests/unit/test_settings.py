"""Settings from the environment: any value either loads or is named with its fix, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segport.config import Settings, load_settings
from segport.errors import ConfigurationError

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
        load_settings()
    except ConfigurationError as refused:  # anything else (a ValidationError, a crash) fails the test
        refusal = refused
    if refusal is not None:
        lines = refusal.message.splitlines()
        assert lines[0] == "Some settings are not valid:" and all(
            line.strip().startswith("SEGPORT_") for line in lines[1:]
        )


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SEGPORT_EXPORT_LIMIT", "-1", "greater than 0"),
        ("SEGPORT_EXPORT_LIMIT", "1e6", "valid integer"),
        ("SEGPORT_MIRROR_MAX_REMOVAL_SHARE", "2", "less than or equal to 1"),
        ("SEGPORT_DATABASE_URL", "mysql://u@h/db", "SQLite or PostgreSQL"),
        # Kept beside what the user did: PostgreSQL refused a longer one at the first write.
        ("SEGPORT_USER", "v" * 256, "at most 255 characters"),
    ],
)
def test_a_wrong_setting_is_named_with_what_it_must_be(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    assert f"{name}={value!r}"[:70] in refused.value.message and says in refused.value.message
