"""What an email address must look like to be sent to Constant Contact, as one written rule set.

Constant Contact documents no pattern (the spec has none): it says a malformed address is a "correctable error"
of an import, and that `email` in a JSON import holds at most 50 characters. segport applies the syntax of
RFC 5321/5322 for a dot-atom address, with internationalized characters allowed (RFC 6531), and refuses what
mail systems refuse:

- one @; a local part of atoms (letters, digits, ! # $ % & ' * + / = ? ^ _ ` { | } ~ -, or non-ASCII
  letters) joined by single dots: no leading, trailing or doubled dot, no quoted local parts;
- a domain of two or more labels of letters, digits and hyphens (or non-ASCII letters), none longer than 63
  characters, none starting or ending with a hyphen, the last one (the top-level domain) of letters only, or a
  punycode `xn--` label; no address literals ([1.2.3.4]);
- no space, control character (NUL, tab, line break...), invisible format character or replacement character
  (U+FFFD, what a decoder leaves for bytes that were not text) anywhere.

The emulator refuses what this refuses, so what segport sends and what the emulator accepts never drift apart
(tests/unit/test_normalize.py walks every case).
"""

from __future__ import annotations

import re

MAX_IMPORT_EMAIL = 50  # contacts_json_import's maxLength on `email`

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]+"
_LABEL = r"(?:[A-Za-z0-9\u0080-\U0010ffff](?:[A-Za-z0-9\-\u0080-\U0010ffff]{0,61}[A-Za-z0-9\u0080-\U0010ffff])?)"
_TOP = r"(?:[A-Za-z\u0080-\U0010ffff]{2,63}|xn--[A-Za-z0-9\-]{1,59})"
_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+{_TOP}")
# Control (Cc), format (Cf: zero-width and direction marks), separators, surrogates (bytes Python could not
# decode) and U+FFFD (the mark a lenient decoder leaves for such bytes: the address lost characters): never in an
# address.
_FORBIDDEN = re.compile(
    r"[\x00-\x20\x7f-\x9f\u00a0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff\ufffd\ud800-\udfff]"
)


def is_valid_address(email: str) -> bool:
    """Whether `email` (already trimmed) is an address Constant Contact can take, leaving its length aside."""
    return _FORBIDDEN.search(email) is None and _ADDRESS.fullmatch(email) is not None
