"""The PostgreSQL databases the tests make for themselves: one per run and worker, a crashed run's cleared."""

from __future__ import annotations

from tests.support.app import STALE_AFTER_SECONDS, own_database_name, stale_databases

NOW = 1_800_000_000.0


def test_two_runs_on_one_server_get_different_databases() -> None:
    first = own_database_name("test", "a" * 32, "gw0", NOW)
    second = own_database_name("test", "b" * 32, "gw0", NOW)
    other_worker = own_database_name("test", "a" * 32, "gw1", NOW)
    assert len({first, second, other_worker}) == 3
    assert first == "test_1800000000_aaaaaaaa_gw0"


def test_only_the_old_databases_of_the_same_base_are_stale() -> None:
    old = own_database_name("test", "c" * 32, "gw2", NOW - STALE_AFTER_SECONDS - 1)
    running = own_database_name("test", "d" * 32, "gw0", NOW - STALE_AFTER_SECONDS + 60)
    other_base = own_database_name("testing", "e" * 32, "gw0", NOW - 10 * STALE_AFTER_SECONDS)
    names = [old, running, other_base, "test", "test_gw0", "postgres", "test_1_x_gw0"]
    assert stale_databases(names, "test", NOW) == [old]
