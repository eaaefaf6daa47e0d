"""The importer reads CSV files a chunk at a time as columns; the chunks must hold exactly the rows that
reading one row at a time gives, and a faulty file must get the same refusal, naming the same line."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from segport.errors import InvalidInput
from segport.profiles.reading import CsvRows

_VALUES = st.sampled_from(["a", "", "1", '"quoted, with comma"', '"two\nlines"', "é", " "])
_LINES = st.lists(st.lists(_VALUES, min_size=0, max_size=4).map(",".join), max_size=25)


def _outcome(read: object) -> tuple[str, object]:
    try:
        return "rows", read()  # type: ignore[operator]
    except InvalidInput as refused:
        return "refused", str(refused)


@given(st.integers(min_value=1, max_value=3), _LINES, st.integers(min_value=1, max_value=7))
def test_chunks_hold_the_rows_that_reading_row_by_row_gives_or_the_same_refusal(
    width: int, lines: list[str], size: int
) -> None:
    header = ",".join(f"c{number}" for number in range(width))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.csv"
        path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
        one_by_one = _outcome(lambda: [tuple(row) for row in CsvRows(path)])
        chunked = _outcome(
            lambda: [row for columns in CsvRows(path).chunks(size) for row in zip(*columns, strict=True)]
        )
    assert chunked == one_by_one
