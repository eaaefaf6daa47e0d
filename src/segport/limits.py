"""The largest whole number segport passes to a database: SQLite's driver binds integers in 64 bits (OverflowError
beyond), and PostgreSQL takes a LIMIT or an OFFSET up to its BIGINT's largest. So each face refuses a larger id,
cursor, offset or count first, saying so (an id beyond a table's own INTEGER is simply not found). Light on
purpose: the CLI imports it."""

LARGEST_INTEGER = 2**63 - 1


def is_storable_text(text: str) -> bool:
    """Whether `text` can be written as UTF-8, as every store and hash needs: not when it holds a surrogate (bytes
    Python could not decode from a terminal, a pipe or a shell argument, or a lone JSON escape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
