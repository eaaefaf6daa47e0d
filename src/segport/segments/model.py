"""A segment's definition: a rule over profile fields, or a combination of other segments.

The same model is written as text on the command line (see parser.py) and as JSON in the API.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from segport.limits import LARGEST_INTEGER

Scalar = str | int | float | bool
Operator = Literal[
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "in",
    "not in",
    "contains",
    "starts with",
    "ends with",
    "is empty",
    "is not empty",
    "between",
]
# Limits, checked when a rule is saved (text and JSON alike): a rule that passes them can always be stored,
# read back, listed and compiled, and no rule costs the database more than a bounded query.
MAX_RULE_LENGTH = 10_000  # characters of rule text
MAX_DEPTH = 20  # groups (parentheses) nested in one rule
MAX_CONDITIONS = 200  # conditions in one rule
MAX_VALUES = 1_000  # values in one rule, counting every item of `in (...)` lists
MAX_VALUE_LENGTH = 1_000  # characters of one text value
LARGEST_NUMBER = LARGEST_INTEGER  # numbers compare as 64-bit integers or doubles in every database segport uses
MAX_COMBINED = 20  # segments in one combination
MAX_COMBINATION_DEPTH = 10  # combinations of combinations

COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
NO_VALUE = ("is empty", "is not empty")
LIST_VALUE = ("in", "not in")


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Condition(_Node):
    type: Literal["condition"] = "condition"
    field: str
    operator: Operator
    # One value; a list for `in`, `not in` and `between` (two values); nothing for `is empty`.
    value: Scalar | list[Scalar] | None = None


class Group(_Node):
    type: Literal["group"] = "group"
    join: Literal["and", "or"]
    conditions: list[Annotated[Condition | Group, Field(discriminator="type")]] = Field(min_length=1)


class Combination(_Node):
    type: Literal["combination"] = "combination"
    operator: Literal["union", "intersect", "except"]
    segments: list[str] = Field(min_length=2)


class Definition(_Node):
    rule: Annotated[Group | Combination, Field(discriminator="type")]
