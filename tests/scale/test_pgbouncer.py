"""ncm through PgBouncer in transaction mode (asyncpg without prepared statements)."""

from __future__ import annotations

import asyncio

import pytest

from bench.pgcluster import Pair
from ncm.kit.db import _pg_credentials
from ncm.schema.base import to_global_id
from tests import factories
from tests.conftest import login_token, make_user
from tests.scale.pair import DATABASE, gql, opened

pytestmark = pytest.mark.postgres_only

CREATE = """mutation($input: CreatePlaylistInput!) { createPlaylist(input: $input) {
  ... on PlaylistPayload { playlist { id title } } } }"""
TRACK = "query($id: ID!) { track(id: $id) { title artists { name } album { title } } }"


def test_the_pool_prepares_nothing_behind_pgbouncer() -> None:
    behind = _pg_credentials("postgresql://u@h:6432/ncm?pgbouncer=1")
    assert behind["statement_cache_size"] == 0 and "server_settings" not in behind
    direct = _pg_credentials("postgresql://u@h:5432/ncm")
    assert "statement_cache_size" not in direct and direct["server_settings"]["jit"] == "off"


async def test_api_requests_through_pgbouncer_in_transaction_mode(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = pair.bouncer_port or pair.start_pgbouncer(pool_size=2)
    url = f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}?maxsize=8&pgbouncer=1"
    async with opened(pair, monkeypatch, primary_url=url, with_replica=False) as client:
        token = await login_token(await make_user("pooled"))  # transactions, advisory locks
        tracks = [await factories.track(f"Pooled {i}") for i in range(3)]
        created = await gql(client, CREATE, {"input": {"title": "Via PgBouncer"}}, token)
        assert created["createPlaylist"]["playlist"]["title"] == "Via PgBouncer"
        # Eight client connections share two server connections: every statement may land
        # on another server connection than the one before it.
        answers = await asyncio.gather(
            *(
                gql(client, TRACK, {"id": to_global_id("Track", tracks[i % 3].pk)})
                for i in range(40)
            )
        )
        assert [a["track"]["title"] for a in answers] == [f"Pooled {i % 3}" for i in range(40)]
        jit = await gql(client, "{ __typename }", {})
        assert jit == {"__typename": "Query"}
