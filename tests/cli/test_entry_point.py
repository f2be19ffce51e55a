"""The installed ``ncm`` script itself, in a subprocess (every other CLI test runs in-process)."""

from __future__ import annotations

import json

import pytest

from ncm.accounts.models import User
from tests.cli.helpers import ncm_process
from tests.conftest import make_user

SUB_APPS = (
    "db",
    "users",
    "catalog",
    "playlists",
    "comments",
    "seed",
    "billing",
    "stream",
    "incidents",
    "compensation",
    "finance",
    "promo",
)


@pytest.mark.backend_independent
def test_help_lists_every_command_group() -> None:
    result = ncm_process("--help")
    assert result.returncode == 0, result.stderr
    for name in (*SUB_APPS, "serve", "worker"):
        assert name in result.stdout, name


async def test_a_real_command_reads_the_test_database() -> None:
    await make_user("entry")
    result = ncm_process("users", "show", "entry", "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["id"] == (await User.get(handle="entry")).id


@pytest.mark.backend_independent
def test_an_unknown_command_exits_2() -> None:
    result = ncm_process("nonsense")
    assert result.returncode == 2
    assert "nonsense" in result.stderr
