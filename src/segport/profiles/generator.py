"""A seeded generator of customer profiles for tests, benchmarks and the demo: the same seed, the same file.

It produces what real profile tables hold: accented and non-Latin names, mixed-case emails, invalid and
duplicate emails, empty fields and names longer than Constant Contact accepts.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

HEADER = [
    "Customer ID",
    "Email",
    "First Name",
    "Last Name",
    "Country",
    "Province",
    "City",
    "Lifetime Value",
    "Orders",
    "Last Order Date",
    "VIP",
    "Signed Up At",
]
FIRST = [
    "Zoë",
    "José",
    "Łukasz",
    "Søren",
    "Ανδρέας",
    "Иван",
    "美咲",
    "محمد",
    "Chloé",
    "Ngozi",
    "Amélie",
    "Björn",
    "Siobhán",
    "Hiroshi",
    "Priya",
    "Émile",
    "Olga",
    "Mateo",
    "Aoife",
    "Kwame",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
]
LAST = [
    "Núñez",
    "O'Brien",
    "Müller",
    "Dvořák",
    "Παπαδόπουλος",
    "Смирнов",
    "佐藤",
    "حداد",
    "Lefèvre",
    "Okafor",
    "Tremblay",
    "Gagnon",
    "Roy",
    "Côté",
    "Bouchard",
    "Smith",
    "García",
    "Nguyễn",
    "Kowalski",
    "Singh",
]
PLACES = [
    ("CA", "ON", "Toronto"),
    ("CA", "ON", "Ottawa"),
    ("CA", "QC", "Montréal"),
    ("CA", "BC", "Vancouver"),
    ("US", "NY", "New York"),
    ("US", "CA", "San José"),
    ("FR", "IDF", "Paris"),
    ("DE", "BE", "Berlin"),
]
DOMAINS = ["example.com", "Example.org", "mail.example.net", "EXAMPLE.ca"]
BROKEN = [
    "{user}.example.com",
    "{user}@",
    "@example.com",
    "{user}@example",
    "{user} @example.com",
    "{user}@@example.com",
]


def profiles(count: int, seed: int = 7) -> Iterator[list[str]]:
    """`count` profile rows (values as text, empty where absent), always the same for the same seed."""
    rng = random.Random(seed)
    emails: list[str] = []
    start = date(2019, 1, 1)
    for number in range(1, count + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        user = f"{_ascii(first)}.{_ascii(last)}{number}"
        roll = rng.random()
        if roll < 0.02 and emails:  # a duplicate: the same address, in other case and with spaces
            email = f"  {rng.choice(emails).upper()} "
        elif roll < 0.05:
            email = rng.choice(BROKEN).format(user=user)
        elif roll < 0.06:
            email = ""
        else:
            email = f"{user}@{rng.choice(DOMAINS)}"
            email = email.capitalize() if number % 3 == 0 else email
            if len(emails) < 50_000:
                emails.append(email)
        if rng.random() < 0.03:
            first = ""
        if rng.random() < 0.005:
            last = (last + "-") * 12  # far over the 50 characters Constant Contact keeps
        country, province, city = rng.choice(PLACES)
        orders = rng.choice([0, 0, 1, 1, 2, 3, 5, 8, 13])
        last_order = (start + timedelta(days=rng.randrange(0, 2500))).isoformat() if orders else ""
        signed_up = datetime(2018, 1, 1) + timedelta(seconds=rng.randrange(0, 250_000_000))
        yield [
            f"C{number:07d}",
            email,
            first,
            last,
            country,
            province,
            city,
            f"{rng.uniform(0, 5000):.2f}",
            str(orders),
            last_order,
            "true" if rng.random() < 0.1 else "false",
            signed_up.isoformat(),
        ]


def _ascii(name: str) -> str:
    cleaned = "".join(character for character in name.lower() if character.isascii() and character.isalpha())
    return cleaned or "customer"


def write_profiles(path: Path, count: int, seed: int = 7) -> int:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for row in profiles(count, seed):
            writer.writerow(row)
    return count
