"""The settings file (TOML): below the environment, above the defaults; every bad file refused by name."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from segport.config import CONFIG_VARIABLE, Settings, load_settings
from segport.errors import ConfigurationError
from segport.logs import JsonLines, configure, working_on
from tests.support.logs import json_lines


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*(f"SEGPORT_{field.upper()}" for field in Settings.model_fields), CONFIG_VARIABLE]:
        monkeypatch.delenv(name, raising=False)


def test_the_file_sets_what_the_environment_does_not(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    file = tmp_path / "segport.toml"
    file.write_text(
        'database_url = "postgresql://segport@db/segport"\nexport_limit = 5000\nlog_format = "json"\n'
        'cc_client_secret = "s3cret"\nhome = "/srv/segport"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("SEGPORT_EXPORT_LIMIT", "7000")  # the environment wins over the file
    loaded = load_settings(config_file=file)
    assert loaded.database_url == "postgresql://segport@db/segport"
    assert loaded.export_limit == 7000 and loaded.log_format == "json" and loaded.home == Path("/srv/segport")
    assert loaded.cc_client_secret is not None and loaded.cc_client_secret.get_secret_value() == "s3cret"
    assert load_settings(config_file=file, export_limit=9).export_limit == 9  # an explicit override wins over all
    monkeypatch.setenv(CONFIG_VARIABLE, str(file))
    assert load_settings().database_url == "postgresql://segport@db/segport"  # SEGPORT_CONFIG names the file
    monkeypatch.delenv(CONFIG_VARIABLE)
    assert load_settings().database_url is None  # no file: nothing from it lingers


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('databse_url = "x"\n', "'databse_url', which is not a setting. Did you mean 'database_url'?"),
        ("SEGPORT_EXPORT_LIMIT = 5\n", "Did you mean 'export_limit'?"),
        ('home = "/srv\n', "is not valid TOML"),
        ("export_limit = 0\n", "export_limit in"),
        ('database_url = "mysql://u@h/db"\n', "SQLite or PostgreSQL"),
        ("batch_max_contacts = [1, 2]\n", "batch_max_contacts in"),
        ("\x00\n", "is not valid TOML"),
    ],
)
def test_a_bad_file_is_refused_with_its_problem_and_fix(tmp_path: Path, text: str, says: str) -> None:
    file = tmp_path / "segport.toml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError) as refused:
        load_settings(config_file=file)
    assert says in refused.value.message + " " + (refused.value.hint or "")
    assert str(file) in refused.value.message


def test_a_missing_or_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings(config_file=tmp_path / "nope.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigurationError, match="cannot be read"):
        load_settings(config_file=binary)


def test_json_logs_carry_the_run_each_thread_works_on() -> None:
    logger = logging.getLogger("segport.test.logs")
    with json_lines("segport.test.logs") as parsed:

        def work(run_id: int) -> None:
            with working_on(run_id):
                logger.info("working %s", run_id)

        threads = [threading.Thread(target=work, args=(number,)) for number in (11, 12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        logger.info("between runs")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    by_message = {item["message"]: item for item in parsed}
    assert by_message["working 11"]["run_id"] == 11 and by_message["working 12"]["run_id"] == 12
    assert "run_id" not in by_message["between runs"]
    assert by_message["failed"]["level"] == "error" and "ValueError: boom" in by_message["failed"]["exception"]
    assert all(item["time"].endswith("+00:00") and item["logger"] == "segport.test.logs" for item in parsed)


def test_configure_switches_the_root_logger_between_text_and_json() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure(load_settings(log_format="json"))
        assert len(root.handlers) == 1 and isinstance(root.handlers[0].formatter, JsonLines)
        configure(load_settings())
        assert len(root.handlers) == 1 and not isinstance(root.handlers[0].formatter, JsonLines)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
