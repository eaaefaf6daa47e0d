"""Every kind of segment rule compiles for the analytic engines teams keep profiles in: Snowflake, BigQuery
and Trino (their SQLAlchemy dialects compile without a server), with every operator on every kind of field,
combinations of segments as common table expressions, and the values bound or rendered as literals.

The compiling happens in a process of its own (tests/support/dialects.py): those dialects register SQL
functions process-wide, which would change what the other tests' PostgreSQL reflection runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.dialects import DIALECTS, OPERATORS, RULES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compiled() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.dialects"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    missing = {name: item["missing"] for name, item in found.items() if "missing" in item}
    if missing:
        pytest.skip(f"dialects not installed (pip install -e '.[test]'): {missing}")
    return found


@pytest.mark.parametrize("dialect", list(DIALECTS))
@pytest.mark.parametrize("kind", list(RULES))
def test_every_operator_on_every_kind_of_field_compiles(compiled: dict[str, Any], dialect: str, kind: str) -> None:
    bound = compiled[dialect]["rules"][kind]["bound"]
    literal = compiled[dialect]["rules"][kind]["literal"]
    assert "crm" in bound and "customers" in bound and "WHERE" in bound
    if kind == "text":  # LIKE escapes the rule's own % and _ with a backslash: they are looked for as such
        assert "50\\" in literal and "\\_off" in literal, literal
        # BigQuery's LIKE takes no ESCAPE clause (a backslash escapes by default); the others must name it.
        assert ("ESCAPE" in literal) == (dialect != "bigquery"), literal
    if kind == "date":
        assert "2024-01-01" in literal
    if kind == "integer":
        assert "BETWEEN" in bound.upper() and " IN " in bound.upper()


@pytest.mark.parametrize("dialect", list(DIALECTS))
@pytest.mark.parametrize("operator", OPERATORS)
def test_combined_segments_compile_to_one_cte_each(compiled: dict[str, Any], dialect: str, operator: str) -> None:
    sql = compiled[dialect]["combinations"][operator]["keys"]
    assert sql.lstrip().upper().startswith("WITH")  # each segment once, as a common table expression
    assert len(set(re.findall(r"segment_\d+_\d+", sql))) == 3 and operator.upper() in sql.upper()
    assert " IN " in compiled[dialect]["combinations"][operator]["members"].upper()
