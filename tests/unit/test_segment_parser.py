import pytest

from segport.segments.model import Combination, Condition, Group
from segport.segments.parser import SegmentSyntaxError, parse_rule


def conditions(rule: Group) -> list[tuple[str, str, object]]:
    found = []
    for item in rule.conditions:
        if isinstance(item, Group):
            found += conditions(item)
        else:
            found.append((item.field, item.operator, item.value))
    return found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('country = "CA"', ("country", "=", "CA")),
        ("orders != 3", ("orders", "!=", 3)),
        ("value < 1.5", ("value", "<", 1.5)),
        ("value <= -2", ("value", "<=", -2)),
        ("value > 0", ("value", ">", 0)),
        ('signed >= "2024-01-31"', ("signed", ">=", "2024-01-31")),
        ('city IN ("Toronto", "Ottawa")', ("city", "in", ["Toronto", "Ottawa"])),
        ("orders not in (1, 2)", ("orders", "not in", [1, 2])),
        ('name contains "é"', ("name", "contains", "é")),
        ('name starts with "Mc"', ("name", "starts with", "Mc")),
        ('name ends with "son"', ("name", "ends with", "son")),
        ("email is empty", ("email", "is empty", None)),
        ("email IS NOT EMPTY", ("email", "is not empty", None)),
        ("orders between 2 and 10", ("orders", "between", [2, 10])),
        ("vip = true", ("vip", "=", True)),
        (r'note = "say \"hi\""', ("note", "=", 'say "hi"')),
    ],
)
def test_every_operator_parses(text: str, expected: tuple[str, str, object]) -> None:
    rule, _ = parse_rule(text)
    assert isinstance(rule, Group)
    assert conditions(rule) == [expected]


def test_and_binds_tighter_than_or_and_parentheses_group() -> None:
    rule, _ = parse_rule("a = 1 or b = 2 and c = 3")
    assert isinstance(rule, Group) and rule.join == "or"
    assert isinstance(rule.conditions[1], Group) and rule.conditions[1].join == "and"
    grouped, _ = parse_rule("(a = 1 or b = 2) and c = 3")
    assert isinstance(grouped, Group) and grouped.join == "and"
    assert isinstance(grouped.conditions[0], Group) and grouped.conditions[0].join == "or"


def test_between_takes_its_own_and() -> None:
    rule, _ = parse_rule("x between 1 and 5 and y = 2")
    assert isinstance(rule, Group)
    assert conditions(rule) == [("x", "between", [1, 5]), ("y", "=", 2)]


def test_a_combination_of_segments() -> None:
    rule, _ = parse_rule('"VIP" intersect "Ontario" intersect "Active"')
    assert rule == Combination(operator="intersect", segments=["VIP", "Ontario", "Active"])


def test_the_text_and_the_json_give_the_same_model() -> None:
    rule, _ = parse_rule('country = "CA" and lifetime_value >= 500')
    assert Group.model_validate_json(rule.model_dump_json()) == rule
    assert rule.conditions[0] == Condition(field="country", operator="=", value="CA")


@pytest.mark.parametrize(
    ("text", "column", "problem"),
    [
        ("", 1, "The rule is empty"),
        ("country = ", 11, "ends too early"),
        ('country == "CA"', 10, "Expected a value"),
        ("country ~ 1", 9, "Unexpected character"),
        ('country = "CA', 11, "no closing quote"),
        ("a = 1 b = 2", 7, "Unexpected 'b'"),
        ("(a = 1", 7, "ends too early"),
        ("a like 1", 3, "Unknown operator 'like'"),
        ('"A" union "B" except "C"', 15, "one operator per combined segment"),
        ('"A"', 1, "two or more segments"),
        ("a = CA", 5, "Expected a value"),
    ],
)
def test_syntax_errors_point_at_the_place(text: str, column: int, problem: str) -> None:
    with pytest.raises(SegmentSyntaxError) as raised:
        parse_rule(text)
    assert problem in raised.value.problem
    assert raised.value.start + 1 == column
    caret_line = str(raised.value).splitlines()[2]
    assert caret_line.index("^") == column + 1  # two spaces of indent before the text
