"""The models and the migrations agree, and the migrations apply to an empty database.

These run the ``ncm db`` commands in-process: the migration API opens and closes Tortoise
itself, in the command's own context, beside the test session's.
"""

from __future__ import annotations

import pytest

from tests.cli.helpers import ncm
from tests.conftest import BACKEND


def test_models_have_no_unmigrated_changes() -> None:
    result = ncm("db", "makemigrations", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no changes" in result.stdout


def test_every_migration_is_applied_to_the_fresh_test_database() -> None:
    # conftest created an empty database and ran `upgrade` on it before any test.
    result = ncm("db", "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines and all(line.startswith("applied ") for line in lines), lines
    assert "applied ncm.0002_search_indexes" in lines


@pytest.mark.postgres_only
async def test_postgres_search_index_exists() -> None:
    from tortoise import connections

    assert BACKEND == "postgres"
    rows = await connections.get("default").execute_query_dict(
        "SELECT indexname FROM pg_indexes WHERE indexname = 'tracks_search_idx'"
    )
    assert rows == [{"indexname": "tracks_search_idx"}]


def test_upgrade_again_is_a_no_op() -> None:
    result = ncm("db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    listed = ncm("db", "status", "--json")
    assert '"applied": true' in listed.stdout
