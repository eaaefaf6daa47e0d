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
        (".ana@example.com", ".ana@example.com", INVALID_EMAIL),  # a leading dot in the local part
        ("ana.@example.com", "ana.@example.com", INVALID_EMAIL),  # a trailing one
        ("ana@-example.com", "ana@-example.com", INVALID_EMAIL),  # a domain label starting with a hyphen
        ("ana@example-.com", "ana@example-.com", INVALID_EMAIL),  # ...or ending with one
        ("an\x00a@example.com", "an\x00a@example.com", INVALID_EMAIL),  # a NUL inside
        ("an\ta@example.com", "an\ta@example.com", INVALID_EMAIL),  # a tab inside
        ("ana\u200b@example.com", "ana\u200b@example.com", INVALID_EMAIL),  # a zero-width space
        ('"ana"@example.com', '"ana"@example.com', INVALID_EMAIL),  # a quoted local part
        ("ana@[192.0.2.1]", "ana@[192.0.2.1]", INVALID_EMAIL),  # an address literal
        ("ana@example.c0m", "ana@example.c0m", INVALID_EMAIL),  # a digit in the top-level domain
        ("ana@example.c", "ana@example.c", INVALID_EMAIL),  # a one-letter top-level domain
        ("josé@exämple.ca", "josé@exämple.ca", None),  # internationalized (RFC 6531)
        ("ana@example.xn--p1ai", "ana@example.xn--p1ai", None),  # a punycode top-level domain
        ("{x}+y=z@sub.example.org", "{x}+y=z@sub.example.org", None),
    ],
)
def test_emails_are_trimmed_lower_cased_and_checked(raw: str | None, email: str, problem: str | None) -> None:
    assert normalize_email(raw) == (email, problem)


def test_names_are_tidied_and_cut_to_fifty_characters() -> None:
    assert clean_name("  Zoë   Núñez ") == ("Zoë Núñez", False, False)
    assert clean_name("") == (None, False, False)
    assert clean_name(None) == (None, False, False)
    long_name, cut, cleaned = clean_name("佐" * 60)
    assert cut and not cleaned and long_name == "佐" * 50


@pytest.mark.parametrize("raw", ["Ann\nMarie", "Ann\tMarie", "Ann\x00Marie", "Ann\r\nMarie", "Ann\u200bMarie"])
def test_control_characters_in_a_name_are_taken_out_and_counted(raw: str) -> None:
    name, cut, cleaned = clean_name(raw)
    assert cleaned and not cut
    assert name == "Ann Marie"
