"""Every setting is documented: its variable in the README's Settings table, its key in the example file."""

from __future__ import annotations

import tomllib
from pathlib import Path

from segport.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_in_the_readme_table() -> None:
    readme = ROOT.joinpath("README.md").read_text(encoding="utf-8")
    table = readme.split("### Settings", 1)[1].split("###", 1)[0]
    missing = [name for name in Settings.model_fields if f"`SEGPORT_{name.upper()}`" not in table]
    assert missing == [], f"add these to the README's Settings table: {missing}"


def test_the_example_settings_file_names_every_setting_and_loads() -> None:
    example = ROOT / "deploy" / "segport.toml"
    text = example.read_text(encoding="utf-8")
    # Every key is in the example, set or commented out with its default.
    missing = [name for name in Settings.model_fields if f"{name} =" not in text]
    assert missing == [], f"add these to deploy/segport.toml: {missing}"
    values = tomllib.loads(text)
    assert set(values) <= set(Settings.model_fields)
