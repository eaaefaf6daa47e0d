"""What a mapped profile value becomes (segport's side), and what the emulated service does with an import
row's properties (the spec's side): two tables written apart, so that one cannot hide the other's mistake."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from segport.emulator import contact_properties
from segport.emulator.contact_properties import RowRefused
from segport.exports import properties
from segport.exports.mapping import SEPARATOR, FieldMapping, convert, parse_raw_extra
from segport.exports.properties import PROPERTIES, NotSendable


def raw(**values: str) -> str:
    return "".join(f"{target}={value}{SEPARATOR}" for target, value in values.items())


@pytest.mark.parametrize(
    ("target", "value", "sent"),
    [
        ("job_title", "  Chef ", ("Chef", False, False)),
        ("job_title", "x" * 51, ("x" * 50, True, False)),
        ("street", "y" * 300, ("y" * 255, True, False)),
        ("cf:tier", "z" * 256, ("z" * 255, True, False)),
        ("company_name", "Acme\nInc\t", ("Acme Inc", False, True)),  # control characters become blanks
        ("cf:tier", "g\x00old", ("g old", False, True)),
        ("job_title", "x" * 30 + "\t" + "y" * 30, ("x" * 30 + " " + "y" * 19, True, True)),  # cleaned, then cut
        ("job_title", "\tChef\r\n", ("Chef", False, True)),  # as in names: control characters at the ends too
        ("job_title", "  Chef  ", ("Chef", False, False)),  # spaces around a value are only trimmed
        ("birthday_month", "1990-04-12", (4, False, False)),
        ("birthday_day", "1990-04-12T08:00:00", (12, False, False)),
        ("birthday_month", "7", (7, False, False)),
        ("birthday_day", "31.0", (31, False, False)),  # a number column read as text
        ("anniversary", "2015-06-01 00:00:00", ("2015-06-01", False, False)),
    ],
)
def test_values_become_what_the_property_takes(target: str, value: str, sent: tuple[object, bool, bool]) -> None:
    assert properties.convert(target, value) == sent


@pytest.mark.parametrize(
    ("target", "value"),
    [
        ("birthday_month", "13"),
        ("birthday_month", "0"),
        ("birthday_day", "32"),
        ("birthday_day", "-1"),
        ("birthday_month", "٣"),  # a digit, but not an ASCII one
        ("birthday_month", "9" * 400),
        ("anniversary", "2015-02-30"),
        ("anniversary", "June 1st"),
        ("birthday_day", "2015-13-01"),
    ],
)
def test_values_a_property_cannot_take_are_not_sent(target: str, value: str) -> None:
    with pytest.raises(NotSendable):
        properties.convert(target, value)


def test_a_member_is_sent_what_it_has_and_half_a_birthday_never() -> None:
    mappings = [
        FieldMapping("title", "job_title"),
        FieldMapping("born", "birthday_month"),
        FieldMapping("day", "birthday_day"),
        FieldMapping("tier", "cf:tier", send_empty=True),
        FieldMapping("phone", "phone"),
    ]
    whole = convert(mappings, raw(job_title="Chef", birthday_month="4", birthday_day="12", phone=""))
    assert whole.properties == {"job_title": "Chef", "birthday_month": 4, "birthday_day": 12, "cf:tier": ""}
    assert (whole.cut, whole.left_out, whole.cleaned) == (0, 0, 0)
    cleaned = convert(mappings, raw(job_title="Chef\r\n", phone="555\x00 0100"))
    assert cleaned.properties == {"job_title": "Chef", "phone": "555  0100", "cf:tier": ""}
    assert (cleaned.cleaned, cleaned.cut) == (2, 0)  # the line break ending the title counts, as in a name
    half = convert(mappings, raw(birthday_month="4", birthday_day="40"))
    assert half.properties == {"cf:tier": ""} and half.left_out == 2
    assert convert(mappings, None).properties == {"cf:tier": ""}


def test_an_empty_birthday_is_never_sent_even_when_empty_values_are() -> None:
    mappings = [FieldMapping("born", "birthday_month", True), FieldMapping("born", "birthday_day", True)]
    assert convert(mappings, None).properties == {}


@given(st.dictionaries(st.sampled_from(list(PROPERTIES)), st.text(max_size=80).filter(lambda v: SEPARATOR not in v)))
def test_raw_extra_reads_back_every_value(values: dict[str, str]) -> None:
    assert parse_raw_extra(raw(**values) or None) == values


@given(st.sampled_from(list(PROPERTIES)), st.text(max_size=300))
def test_what_segport_sends_the_emulator_takes(target: str, value: str) -> None:
    """Whatever segport makes of a value, the emulated service (from the spec) accepts it as sent."""
    try:
        sent, _cut, _cleaned = properties.convert(target, value)
    except NotSendable:
        return
    item: dict[str, object] = {target: sent}
    if target in properties.PAIRED:  # sent only together
        item = {
            "birthday_month": sent if target == "birthday_month" else 1,
            "birthday_day": 1 if target == "birthday_month" else sent,
        }
    assert contact_properties.read(item, set()) is not None or sent == ""


@pytest.mark.parametrize(
    ("item", "correctable", "complaint"),
    [
        ({"cf:missing": "x"}, False, "does not exist"),
        ({"job_title": "x" * 51}, False, "longer than 50"),
        ({"street": "x" * 256}, False, "longer than 255"),
        ({"job_title": 5}, False, "must be text"),
        ({"birthday_month": 4}, True, "go together"),
        ({"birthday_month": 13, "birthday_day": 1}, True, "1 to 12"),
        ({"birthday_month": True, "birthday_day": 1}, True, "1 to 12"),
        ({"anniversary": "2015-02-30"}, True, "documented format"),
        ({f"cf:f{n}": "x" for n in range(26)}, False, "more than 25"),
    ],
)
def test_the_emulator_refuses_rows_the_spec_does_not_allow(
    item: dict[str, object], correctable: bool, complaint: str
) -> None:
    known = {f"f{n}" for n in range(26)}
    with pytest.raises(RowRefused, match=complaint) as refused:
        contact_properties.read(item, known)
    assert refused.value.correctable is correctable


@pytest.mark.parametrize(
    "written", ["06/01/2015", "6/1/2015", "2015/06/01", "2015/6/1", "2015-6-1", "6-1-2015", "6-01-2015"]
)
def test_the_emulator_takes_every_documented_anniversary_format(written: str) -> None:
    assert contact_properties.read({"anniversary": written}, set()) == {"anniversary": "2015-06-01"}


def test_the_emulator_ignores_what_is_not_a_contact_property() -> None:
    assert contact_properties.read({"favourite_colour": "blue"}, set()) is None
