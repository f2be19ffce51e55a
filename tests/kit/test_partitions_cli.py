"""``ncm db partitions`` on both backends: the event tables' partitions on PostgreSQL, nothing
on SQLite (plain tables)."""

from __future__ import annotations

from tests.cli.helpers import ncm, ncm_json
from tests.conftest import BACKEND

EVENT_TABLES = {"play_events", "promotion_viewers", "promotion_clicks"}


def test_the_command_lists_the_partitions_and_ensures_nothing_missing() -> None:
    rows = ncm_json("db", "partitions")
    if BACKEND == "sqlite":
        assert rows == []
    else:
        assert {r["table"] for r in rows} == EVENT_TABLES
        assert {r["partition"] for r in rows} >= {f"{t}_default" for t in EVENT_TABLES}
    assert ncm_json("db", "partitions", "--ensure", "--dry-run") == []  # migrations made them
    dry = ncm("db", "partitions", "--drop-expired", "--dry-run")
    assert dry.returncode == 0, dry.stderr
