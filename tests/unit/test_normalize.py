import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

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
        ("an\ufffd@example.com", "an\ufffd@example.com", INVALID_EMAIL),  # bytes a decoder could not read
        (f"an{chr(0xDCFF)}@example.com", f"an{chr(0xDCFF)}@example.com", INVALID_EMAIL),  # kept as a surrogate
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


def _clean_name_as_specified(text: str) -> tuple[str | None, bool, bool]:
    """The rule, the slow way for every name: control characters to spaces, runs of blanks to one, cut to 50."""
    cleaned = re.search(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\ufeff]", text)
    name = " ".join(
        re.sub(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\ufeff]", " ", text).split()
    )
    if not name:
        return None, False, cleaned is not None
    if len(name) > 50:
        return name[:50].rstrip(), True, cleaned is not None
    return name, False, cleaned is not None


@given(
    st.text()
    | st.text(alphabet=" ab", max_size=8)  # printable: spaces doubled, leading, trailing
    | st.text(alphabet=" \t\n\u00a0\u2028\u3000\u200bab", max_size=60)
    | st.text(min_size=45, max_size=70)
)
@example("a  b")
@example(" a")
@example("a ")
@example("a" * 49 + " b")  # cut before a space: the space goes too
def test_a_name_comes_out_as_the_rule_says_whichever_way_it_is_cleaned(text: str) -> None:
    # clean_name gives most names back at once; whatever the name, the answer is the rule's.
    assert clean_name(text) == _clean_name_as_specified(text)
