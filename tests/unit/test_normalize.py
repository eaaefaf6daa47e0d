import pytest

from segport.exports.normalize import (
    EMAIL_TOO_LONG,
    INVALID_EMAIL,
    MISSING_EMAIL,
    clean_name,
    normalize_email,
)


@pytest.mark.parametrize(
    ("raw", "email", "problem"),
    [
        ("  Ana.Sousa@Example.COM ", "ana.sousa@example.com", None),
        ("o'brien+news@mail.example.ca", "o'brien+news@mail.example.ca", None),
        (None, "", MISSING_EMAIL),
        ("   ", "", MISSING_EMAIL),
        ("ana.example.com", "ana.example.com", INVALID_EMAIL),
        ("ana@", "ana@", INVALID_EMAIL),
        ("@example.com", "@example.com", INVALID_EMAIL),
        ("ana@example", "ana@example", INVALID_EMAIL),
        ("ana @example.com", "ana @example.com", INVALID_EMAIL),
        ("ana@@example.com", "ana@@example.com", INVALID_EMAIL),
        ("ana..b@example.com", "ana..b@example.com", INVALID_EMAIL),
        ("a" * 40 + "@example.com", "a" * 40 + "@example.com", EMAIL_TOO_LONG),
    ],
)
def test_emails_are_trimmed_lower_cased_and_checked(raw: str | None, email: str, problem: str | None) -> None:
    assert normalize_email(raw) == (email, problem)


def test_names_are_tidied_and_cut_to_fifty_characters() -> None:
    assert clean_name("  Zoë   Núñez ") == ("Zoë Núñez", False)
    assert clean_name("") == (None, False)
    assert clean_name(None) == (None, False)
    long_name, cut = clean_name("佐" * 60)
    assert cut and long_name == "佐" * 50
