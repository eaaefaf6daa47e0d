"""The largest whole number segport keeps or looks up: every store holds integers in 64 bits (SQLite's INTEGER,
PostgreSQL's BIGINT). Beyond it SQLite's driver raises OverflowError and PostgreSQL refuses a LIMIT, so each
face refuses a larger id, cursor, offset or count first, saying so. Light on purpose: the CLI imports it."""

LARGEST_INTEGER = 2**63 - 1
