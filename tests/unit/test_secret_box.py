import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from segport.config import Settings
from segport.errors import ConfigurationError
from segport.store.secrets import SecretBox, key_file, load_secret_box


def test_a_key_file_is_created_once_with_owner_only_access(tmp_path: Path) -> None:
    box = load_secret_box(Settings(home=tmp_path))
    sealed = box.seal("refresh-token-value")
    assert "refresh-token-value" not in sealed
    mode = stat.S_IMODE(os.stat(key_file(tmp_path)).st_mode)
    assert mode == 0o600
    assert load_secret_box(Settings(home=tmp_path)).open(sealed) == "refresh-token-value"


def test_a_key_from_the_settings_is_used_and_a_wrong_key_cannot_open(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    sealed = load_secret_box(Settings(home=tmp_path, secret_key=SecretStr(key))).seal("x")
    assert not key_file(tmp_path).exists()
    with pytest.raises(ConfigurationError, match="cannot be decrypted"):
        SecretBox(Fernet.generate_key()).open(sealed)


@pytest.mark.parametrize("value", ["changeme", "", "  secret "])
def test_a_placeholder_key_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigurationError, match="placeholder"):
        load_secret_box(Settings(home=tmp_path, secret_key=SecretStr(value)))


def test_a_malformed_key_is_refused_with_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="Fernet.generate_key"):
        load_secret_box(Settings(home=tmp_path, secret_key=SecretStr("not-a-fernet-key")))
