"""Passwords for signing in to the web UI, kept as scrypt hashes (cryptography's, with its defaults' cost).

Stored as `scrypt$n$r$p$salt$hash` (base64), so the cost can be raised later without losing old hashes.
"""

from __future__ import annotations

import base64
import hmac
import os

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from segport.errors import InvalidInput
from segport.limits import is_storable_text

# OWASP's scrypt guidance (N=2^17, r=8, p=1): about 0.3 s and 128 MB per check, slow for guessing. Hashes made
# with a lower cost still verify (the cost is stored with each) and are replaced at the next sign-in.
COST = 2**17
BLOCK_SIZE = 8
PARALLELISM = 1
MINIMUM_LENGTH = 10
MAXIMUM_LENGTH = 1024


def check_strength(password: str) -> None:
    """Refuse passwords too short to resist guessing, absurdly long ones (hashing cost), or ones that are not
    text (a pipe's bytes in another encoding stopped the hash with UnicodeEncodeError)."""
    if len(password) < MINIMUM_LENGTH:
        raise InvalidInput(
            f"The password has {len(password)} characters; it needs at least {MINIMUM_LENGTH}.",
            hint="Choose a longer one; a few unrelated words make a good password.",
        )
    if len(password) > MAXIMUM_LENGTH:
        raise InvalidInput(f"The password is longer than {MAXIMUM_LENGTH} characters.", hint="Choose a shorter one.")
    if not is_storable_text(password):  # bytes Python could not decode, from a terminal or a pipe
        raise InvalidInput(
            "The password holds bytes that are not UTF-8 text.",
            hint="Type it again as UTF-8 text (set the terminal, or the file it comes from, to UTF-8).",
        )


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    key = Scrypt(salt=salt, length=32, n=COST, r=BLOCK_SIZE, p=PARALLELISM).derive(password.encode())
    encoded = [base64.b64encode(part).decode() for part in (salt, key)]
    return f"scrypt${COST}${BLOCK_SIZE}${PARALLELISM}${encoded[0]}${encoded[1]}"


def verify_password(password: str, stored: str | None) -> bool:
    """True when `password` matches `stored` (False for a user with no password or a malformed hash)."""
    if not stored or len(password) > MAXIMUM_LENGTH:
        return False
    try:
        scheme, cost, block_size, parallelism, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        kdf = Scrypt(salt=base64.b64decode(salt), length=32, n=int(cost), r=int(block_size), p=int(parallelism))
        kdf.verify(password.encode(), base64.b64decode(key))
    except (ValueError, InvalidKey):
        return False
    return True


def same_text(left: str, right: str) -> bool:
    """Constant-time comparison, for tokens a browser sends back."""
    return hmac.compare_digest(left.encode(), right.encode())


def weaker_than_now(stored: str) -> bool:
    """Whether a stored hash was made with a lower cost than segport uses now."""
    parts = stored.split("$")
    return len(parts) == 6 and parts[0] == "scrypt" and parts[1].isdigit() and int(parts[1]) < COST
