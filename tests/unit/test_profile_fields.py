from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from segport.profiles.fields import TypeGuess, convert, field_name


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("Customer ID", "customer_id"),
        ("Lifetime Value (CAD)", "lifetime_value_cad"),
        ("Prénom", "prenom"),
        ("2nd email", "f_2nd_email"),
        ("电子邮件", "field"),
        ("  e-mail  ", "e_mail"),
    ],
)
def test_headers_become_rule_friendly_field_names(header: str, name: str) -> None:
    assert field_name(header) == name


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["1", "-2", "", "30"], "integer"),
        (["01", "2"], "text"),  # leading zeros: an identifier such as a postal code
        (["1.5", "2", ".5", "1e3"], "number"),
        (["true", "No", "YES", ""], "boolean"),
        (["2024-01-31", "2023-12-01"], "date"),
        (["2024-01-31", "2024-13-01"], "text"),
        (["2024-01-31T10:00:00Z", "2024-02-01 10:00"], "datetime"),
        (["", ""], "text"),
        (["1", "x"], "text"),
    ],
)
def test_column_types_are_inferred_from_every_value(values: list[str], kind: str) -> None:
    guess = TypeGuess()
    for value in values:
        guess.observe(value)
    assert guess.type == kind


def test_values_are_converted_to_their_type_and_empty_is_none() -> None:
    assert convert("42", "integer") == 42
    assert convert(" 1.25 ", "number") == 1.25
    assert convert("Yes", "boolean") is True
    assert convert("2024-02-29", "date") == date(2024, 2, 29)
    assert convert("2024-02-29T10:00:00Z", "datetime").utcoffset() is not None
    assert convert("2024-02-29 10:00", "datetime") == datetime(2024, 2, 29, 10, 0)
    assert convert(" 2024-02-29t10:00:00z ", "datetime") == convert("2024-02-29T10:00:00Z", "datetime")
    assert convert("", "integer") is None
    assert convert(" keep spaces ", "text") == " keep spaces "


_VALUES = ["", "1", "01", "-7", "2.5", "1e3", "yes", "No", "2024-02-29", "2024-02-30", "2024-02-29 10:00", "x", " 3 "]


@given(st.lists(st.sampled_from(_VALUES), max_size=40), st.integers(min_value=1, max_value=4))
def test_remembering_values_never_changes_the_type_guessed(values: list[str], remembered: int) -> None:
    """The guess skips values it has seen fit; its type must be the one a guess checking every value gives."""
    quick, thorough = TypeGuess(), TypeGuess()
    quick.REMEMBERED = remembered  # a tiny memory too: once full, the rest is checked value by value
    thorough.REMEMBERED = 0
    for value in values:
        quick.observe(value)
        thorough.observe(value)
    assert quick.type == thorough.type
    assert quick.decided == (thorough.seen and not thorough.candidates)


@given(st.lists(st.sampled_from(_VALUES), max_size=40), st.integers(min_value=0, max_value=40))
def test_a_guess_from_the_first_values_checks_the_rest_as_a_guess_over_every_value_would(
    values: list[str], cut: int
) -> None:
    """The importer guesses from the first rows and checks the others: when every later value passes, the type
    is the one a guess over every value gives; for a column that had values, a value that fails changes it."""
    sample, full = TypeGuess(), TypeGuess()
    for value in values[:cut]:
        sample.observe(value)
    for value in values:
        full.observe(value)
    check = sample.checker()
    kept = all(check(value) for value in values[cut:] if value)
    if kept:
        assert full.type == sample.type
    if sample.seen:
        assert kept == (full.type == sample.type)


_MOMENTS = ["2024-02-29T10:00:00Z", "2024-02-30T10:00:00Z", "2024-02-29 25:00", "2023-02-29", "2024-02-29"]


@given(st.lists(st.sampled_from(_VALUES + _MOMENTS), max_size=20), st.sampled_from(_VALUES + _MOMENTS))
def test_a_check_that_leaves_parsing_to_the_caller_agrees_with_the_full_check_once_the_value_parses(
    values: list[str], value: str
) -> None:
    """The importer checks a date's or a moment's form only and takes a failed parse as a misfit: together they
    must say what the full check says, for every guessed type."""
    guess = TypeGuess()
    for seen in values:
        guess.observe(seen)
    if not value:
        return
    try:
        convert(value, guess.type)
        parses = True
    except ValueError:
        parses = False
    assert guess.checker()(value) == (guess.checker(parsed_after=True)(value) and parses)


_ODD_CASES = ["2024-02-29t10:00:00z", "2024-02-29T10:00+0200", "TRUE", "1E3"]


@given(st.lists(st.sampled_from(_VALUES + _ODD_CASES), max_size=20))
def test_every_value_of_a_column_converts_to_the_type_guessed_for_it(values: list[str]) -> None:
    """A type is only guessed when every value fits it; each must then convert without an error."""
    guess = TypeGuess()
    for value in values:
        guess.observe(value)
    for value in values:
        convert(value, guess.type)
