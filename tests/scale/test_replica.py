"""Lag-tolerant reads on a real streaming standby: routed there, back on the primary when the
standby lags or is down, and a viewer's own writes read from the primary."""

from __future__ import annotations

import asyncio

import pytest

from bench.pgcluster import Pair
from ncm.catalog.models import Track
from ncm.kit import replica
from ncm.schema.base import to_global_id
from tests import factories
from tests.conftest import login_token, make_user
from tests.scale.pair import caught_up, gql, opened, standby_sql

pytestmark = pytest.mark.postgres_only

TRACK = "query($id: ID!) { track(id: $id) { title } }"
TRACK_AND_VIEWER = "query($id: ID!) { track(id: $id) { title } viewer { __typename } }"
CREATE = """mutation($input: CreatePlaylistInput!) { createPlaylist(input: $input) {
  ... on PlaylistPayload { playlist { id } } } }"""
PLAYLIST = "query($id: ID!) { playlist(id: $id) { title } }"


async def paused(pair: Pair) -> None:
    await caught_up(pair)
    await standby_sql(pair, "SELECT pg_wal_replay_pause()")


async def resumed(pair: Pair) -> None:
    await standby_sql(pair, "SELECT pg_wal_replay_resume()")
    await caught_up(pair)


async def test_lag_tolerant_reads_go_to_the_replica(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with opened(pair, monkeypatch, replica_max_lag_ms=600_000) as client:
        await paused(pair)
        try:
            track = await factories.track("Only on the primary")
            tid = to_global_id("Track", track.pk)
            before = replica.ROUTED.labels("replica")._value.get()
            # The standby has not replayed the insert: a catalog read there does not see it.
            assert (await gql(client, TRACK, {"id": tid}))["track"] is None
            assert replica.ROUTED.labels("replica")._value.get() == before + 1
            assert await Track.filter(pk=track.pk).exists()  # outside a routed block: primary
            # A query that also asks for the viewer's own data reads from the primary.
            both = await gql(client, TRACK_AND_VIEWER, {"id": tid})
            assert both["track"] == {"title": "Only on the primary"}
        finally:
            await resumed(pair)
        assert (await gql(client, TRACK, {"id": tid}))["track"] == {"title": "Only on the primary"}


async def test_a_viewer_reads_their_own_writes_from_the_primary(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with opened(
        pair, monkeypatch, replica_max_lag_ms=600_000, replica_sticky_ms=700
    ) as client:
        token = await login_token(await make_user("writer"))
        await paused(pair)
        try:
            created = await gql(
                client, CREATE, {"input": {"title": "Fresh", "privacy": "PUBLIC"}}, token
            )
            pid = created["createPlaylist"]["playlist"]["id"]
            # The writer sees it at once (primary); anyone else reads the paused replica.
            assert (await gql(client, PLAYLIST, {"id": pid}, token))["playlist"] == {
                "title": "Fresh"
            }
            assert (await gql(client, PLAYLIST, {"id": pid}))["playlist"] is None
            await asyncio.sleep(0.8)  # the window after the write is over: replica again
            assert (await gql(client, PLAYLIST, {"id": pid}, token))["playlist"] is None
        finally:
            await resumed(pair)


async def test_reads_fall_back_to_the_primary_past_the_lag_bound(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with opened(pair, monkeypatch, replica_max_lag_ms=200, replica_check_ms=0) as client:
        track = await factories.track("Written while the standby waits")
        tid = to_global_id("Track", track.pk)
        await paused(pair)
        try:
            await Track.filter(pk=track.pk).update(title="Renamed while paused")
            await asyncio.sleep(0.4)
            ready = (await client.get("/readyz")).json()
            assert ready["status"] == "ok"  # the primary serves: still ready
            assert ready["replica"]["state"].startswith("lagging")
            assert ready["replica"]["lag_ms"] > 200
            metrics = (await client.get("/metrics")).text
            lag = next(
                line for line in metrics.splitlines() if line.startswith("ncm_replica_lag_seconds")
            )
            assert float(lag.split()[-1]) > 0.2
            assert "ncm_replica_usable 0.0" in metrics
            before = replica.ROUTED.labels("primary_fallback")._value.get()
            assert (await gql(client, TRACK, {"id": tid}))["track"] == {
                "title": "Renamed while paused"
            }
            assert replica.ROUTED.labels("primary_fallback")._value.get() == before + 1
        finally:
            await resumed(pair)
        ready = (await client.get("/readyz")).json()
        assert ready["replica"]["state"] == "ok" and ready["replica"]["lag_ms"] < 200


async def test_reads_fall_back_to_the_primary_when_the_standby_is_down(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with opened(pair, monkeypatch, replica_check_ms=60_000) as client:
        track = await factories.track("Replicated")
        tid = to_global_id("Track", track.pk)
        await caught_up(pair)
        assert (await gql(client, TRACK, {"id": tid}))["track"] == {"title": "Replicated"}
        assert (await client.get("/readyz")).json()["replica"]["state"] == "ok"
        pair.standby.stop()
        try:
            # The last check (a moment ago) said usable: the read fails on the replica and is
            # run again on the primary, and the replica counts as down from then on.
            assert (await gql(client, TRACK, {"id": tid}))["track"] == {"title": "Replicated"}
            assert not await replica.usable()
            ready = (await client.get("/readyz")).json()
            assert ready["status"] == "ok" and ready["replica"]["state"].startswith("down")
            assert (await gql(client, TRACK, {"id": tid}))["track"] == {"title": "Replicated"}
        finally:
            pair.standby.start()
