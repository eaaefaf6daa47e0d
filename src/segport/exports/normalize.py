"""Normalising and validating what is sent: emails (trimmed, lower-cased, checked) and names (cut to 50)."""

from __future__ import annotations

import re

from segport.constant_contact.addresses import MAX_IMPORT_EMAIL, is_valid_address
from segport.profiles.source import MAX_KEY_LENGTH

MAX_EMAIL = MAX_IMPORT_EMAIL  # contacts_json_import's cap on `email`
MAX_NAME = 50
# The most of an unusable address or key a run's rows keep: enough to find it in the profiles, and short enough
# for any index it lands in (PostgreSQL refused a 9,000-character address in the skipped members' index: the run
# failed).
MAX_SHOWN = 320
# Control and invisible format characters (a NUL, a tab, a line break, a zero-width space) in a name.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\ufeff]")

MISSING_EMAIL = "missing_email"
INVALID_EMAIL = "invalid_email"
EMAIL_TOO_LONG = "email_too_long"
DUPLICATE = "duplicate"
MISSING_KEY = "missing_key"
KEY_TOO_LONG = "key_too_long"
KEY_WITH_NUL = "key_with_nul"
DUPLICATE_KEY = "duplicate_key"
UNSUBSCRIBED = "unsubscribed"
NOT_ADDED = "not_added"
REFUSED = "refused"
REMOVED = "removed"

# Members that cannot be sent as they are, kept for the runs that will not read them (sync_skipped); each run
# counts them under "duplicate" or "invalid_email". Only a warehouse can have a row without a usable key: none,
# one on more than one row, one too long or with a NUL (counted under "unusable_key", which the alert on refused
# members counts too: a view that repeats every key sends nobody); and every run reads all of a warehouse's
# members: such members are skipped by every run, and not kept.
SKIPPED = (MISSING_EMAIL, INVALID_EMAIL, EMAIL_TOO_LONG, DUPLICATE)
UNUSABLE_KEYS = (MISSING_KEY, DUPLICATE_KEY, KEY_TOO_LONG, KEY_WITH_NUL)


def counter_for(reason: str) -> str:
    """The run counter a skipped member's reason adds to."""
    if reason in UNUSABLE_KEYS:
        return "unusable_key"
    return "duplicate" if reason == DUPLICATE else "invalid_email"


REASONS = {
    MISSING_EMAIL: "the email field is empty",
    INVALID_EMAIL: "not a valid email address",
    EMAIL_TOO_LONG: f"longer than the {MAX_EMAIL} characters Constant Contact's import accepts",
    DUPLICATE: "the same email as another member (case and spaces ignored); sent once",
    DUPLICATE_KEY: (
        "the profile source has more than one member row with this key (a view that joins orders, say): which one "
        "is the customer is unknown, so none is sent until the key is on one row"
    ),
    MISSING_KEY: "the profile has no key (its key column is empty): it cannot be told from other profiles",
    KEY_WITH_NUL: "the profile's key holds a NUL character, which PostgreSQL cannot keep; fix it in the source",
    KEY_TOO_LONG: (
        f"the profile's key is longer than the {MAX_KEY_LENGTH} characters segport can keep track of; shorten it "
        "in the profile source, or connect the source with another key column"
    ),
    UNSUBSCRIBED: "the contact unsubscribed in Constant Contact, which cannot add them to a list",
    NOT_ADDED: "Constant Contact did not complete the import of this contact's batch",
    REFUSED: "Constant Contact's import did not put this contact on the list (it refused the row)",
    REMOVED: "taken off the list (mirror mode): the profile left the export's segments or changed its email",
}


def normalize_email(raw: object) -> tuple[str, str | None]:
    """(normalised email, None) or (what we have, the reason it cannot be sent)."""
    if raw is None:
        return "", MISSING_EMAIL
    email = str(raw).strip().lower()
    if not email:
        return "", MISSING_EMAIL
    if len(email) > MAX_EMAIL:
        return email, EMAIL_TOO_LONG
    if not is_valid_address(email):
        return email, INVALID_EMAIL
    return email, None


def shown(value: str) -> str:
    """An address or key as a run's rows keep it: an unusable one longer than MAX_SHOWN is cut, marked so, and a
    NUL character (a warehouse's value may hold one; PostgreSQL's text cannot) becomes U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    return value if len(value) <= MAX_SHOWN else f"{value[: MAX_SHOWN - 1]}\u2026"


def clean_name(raw: object) -> tuple[str | None, bool, bool]:
    """(name or None, whether it was cut to 50 characters, whether control characters were taken out).

    A line break or tab becomes a space and runs of spaces become one; a run counts such names, as it counts
    the names it cut."""
    if raw is None:
        return None, False, False
    text = str(raw)
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        # Most names: nothing to clean. isprintable() is False for every character _CONTROL takes out and for
        # every separator but the ASCII space, so the slow way below would give the text back as it is (two
        # million names a 1M export: a second of its reading thread).
        if len(text) > MAX_NAME:
            return text[:MAX_NAME].rstrip(), True, False
        return text or None, False, False
    cleaned = _CONTROL.search(text) is not None
    name = " ".join(_CONTROL.sub(" ", text).split())
    if not name:
        return None, False, cleaned
    if len(name) > MAX_NAME:
        return name[:MAX_NAME].rstrip(), True, cleaned
    return name, False, cleaned
