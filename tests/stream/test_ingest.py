"""Batched play ingestion (PostgreSQL + Redis): reportPlay writes no row; the stream's drain
writes each play exactly once, whatever the duplicates, and a worker SIGKILLed mid-batch loses
nothing (its entries are claimed again)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ncm.catalog.models import Track
from ncm.kit.redis import get_redis
from ncm.kit.sql import fetch
from ncm.stream import ingest, plays
from ncm.stream.models import PlayEvent, PlaySource, UserDailyActivity
from tests import factories
from tests.conftest import login_token, make_user
from tests.stream.test_graphql_plays import RECENT, report
from tests.workers import killed_worker

pytestmark = [pytest.mark.asyncio, pytest.mark.postgres_only]


async def totals() -> dict[str, int]:
    rows = await fetch(
        "SELECT (SELECT count(*) FROM play_events) AS rows,"
        " (SELECT count(DISTINCT play_id) FROM play_events) AS ids,"
        " (SELECT coalesce(sum(play_count), 0) FROM tracks) AS counted,"
        " (SELECT coalesce(sum(plays), 0) FROM user_daily_activity) AS active"
    )
    return {k: int(v) for k, v in rows[0].items()}


def fake_play(n: int, user_id: int, track_id: int, now: datetime) -> PlayEvent:
    started = now - timedelta(minutes=n % 50)
    return PlayEvent(
        play_id=f"bulk-{n:08d}",
        user_id=user_id,
        track_id=track_id,
        started_at=started,
        day=started.date(),
        seconds_played=40 if n % 3 else 10,
        counted=bool(n % 3),
        source=PlaySource.OTHER,
        share_id=None,
    )


async def queue(n: int, users: list[int], tracks: list[int], *, twice: int = 0) -> int:
    """Queue ``n`` plays straight onto the stream (the report path's script), and the first
    ``twice`` of them once more as raw stream entries (a producer retry past the dedupe)."""
    now = datetime.now(UTC)
    redis = await get_redis()
    assert redis is not None
    counted = 0
    for i in range(n):
        play = fake_play(i, users[i % len(users)], tracks[i % len(tracks)], now)
        assert await ingest.enqueue(play, now) is None
        counted += play.counted
        if i < twice:
            await redis.xadd(ingest.stream_key(), {"p": ingest.encode(play, now)})
    return counted


async def test_report_queues_and_recently_played_shows_it_at_once(gql: Any) -> None:
    assert ingest.enabled()
    user = await make_user("ann")
    token = await login_token(user)
    songs = [await factories.track(f"Song {i}") for i in range(3)]
    first = await report(gql, token, track_id=songs[0].id, play_id="queued-0001")
    assert first["__typename"] == "ReportPlayPayload" and first["duplicate"] is False
    assert await PlayEvent.all().count() == 0  # no row on the request path
    await ingest.drain()
    for i, song in enumerate(songs[1:], start=2):
        await report(gql, token, track_id=song.id, play_id=f"queued-000{i}")
    again = await report(gql, token, track_id=songs[2].id, play_id="queued-0003", seconds=99)
    assert again["duplicate"] is True and again["play"]["secondsPlayed"] == 45
    other = await report(
        gql, await login_token(await make_user("bob")), track_id=songs[0].id, play_id="queued-0001"
    )
    assert other["__typename"] == "ConflictError"
    # two plays pending in Redis, one stored: newest first, one page after another
    page = (await gql(RECENT, {"first": 2}, token=token))["data"]["viewer"]["recentlyPlayed"]
    assert [e["node"]["playId"] for e in page["edges"]] == ["queued-0003", "queued-0002"]
    rest = await gql(RECENT, {"first": 2, "after": page["pageInfo"]["endCursor"]}, token=token)
    rest_page = rest["data"]["viewer"]["recentlyPlayed"]
    assert [e["node"]["playId"] for e in rest_page["edges"]] == ["queued-0001"]
    assert rest_page["pageInfo"]["hasNextPage"] is False
    await ingest.drain()
    after = (await gql(RECENT, {"first": 5}, token=token))["data"]["viewer"]["recentlyPlayed"]
    assert [e["node"]["playId"] for e in after["edges"]] == [
        "queued-0003",
        "queued-0002",
        "queued-0001",
    ]
    # a pending play's cursor still works once the play was written
    tail = await gql(RECENT, {"first": 5, "after": page["pageInfo"]["endCursor"]}, token=token)
    assert [e["node"]["playId"] for e in tail["data"]["viewer"]["recentlyPlayed"]["edges"]] == [
        "queued-0001"
    ]
    assert sum(t.play_count for t in await Track.all()) == 3


async def test_a_retry_after_the_dedupe_window_is_still_a_duplicate() -> None:
    user = await make_user("ann")
    track = await factories.track()
    started = datetime.now(UTC) - timedelta(minutes=3)
    kwargs: dict[str, Any] = {"track_id": track.id, "started_at": started, "seconds_played": 40}
    await plays.report_play(user, play_id="late-retry-1", **kwargs)
    await ingest.drain()
    redis = await get_redis()
    assert redis is not None
    await redis.delete(ingest._key("id:late-retry-1"))  # the dedupe key expired
    again = await plays.report_play(user, play_id="late-retry-1", **kwargs)
    assert again.duplicate is True and again.play.id is not None
    assert (await Track.get(id=track.id)).play_count == 1


async def test_exactly_once_under_duplicates() -> None:
    users = [(await make_user(f"dup{i}")).id for i in range(4)]
    tracks = [(await factories.track()).id for _ in range(5)]
    counted = await queue(600, users, tracks, twice=150)
    # the same play reported concurrently: one queued, the others answered as duplicates
    user = await make_user("racer")
    started = datetime.now(UTC) - timedelta(minutes=1)
    raced = await asyncio.gather(
        *(
            plays.report_play(
                user,
                play_id="raced-play-1",
                track_id=tracks[0],
                started_at=started,
                seconds_played=40,
            )
            for _ in range(8)
        )
    )
    assert sum(not r.duplicate for r in raced) == 1
    first = await ingest.drain()
    assert first.inserted == 601 and first.entries == 751
    # a batch written again (a consumer that died before acknowledging): nothing doubles
    redis = await get_redis()
    assert redis is not None
    now = datetime.now(UTC)
    for i in range(0, 600, 7):
        play = fake_play(i, users[i % 4], tracks[i % 5], now)
        await redis.xadd(ingest.stream_key(), {"p": ingest.encode(play, now)})
    await redis.xadd(ingest.stream_key(), {"p": "not|a|play"})  # dropped, never blocks
    second = await ingest.drain()
    assert second.entries == len(range(0, 600, 7)) + 1 and second.inserted == 0
    got = await totals()
    assert got == {"rows": 601, "ids": 601, "counted": counted + 1, "active": 601}
    assert await UserDailyActivity.filter(user_id=user.id).count() == 1
    assert await ingest.backlog() == {"length": 0, "pending": 0}


async def test_a_worker_killed_mid_batch_loses_nothing() -> None:
    users = [(await make_user(f"kill{i}")).id for i in range(6)]
    tracks = [(await factories.track()).id for _ in range(7)]
    total = 1200
    counted = await queue(total, users, tracks, twice=100)
    # each batch holds its transaction open a while: the kill lands inside one
    async with killed_worker(NCM_PLAY_FLUSH_PAUSE="0.3", NCM_PLAY_FLUSH_BATCH="100"):
        for _ in range(600):  # until a few batches committed (at most 60 s on a busy machine)
            if (await totals())["rows"] >= 300:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.15)  # now inside the next batch's transaction
    before = await totals()
    assert 0 < before["rows"] < total, "the kill must land in the middle of the run"
    backlog = await ingest.backlog()
    assert backlog["pending"] > 0  # the killed batch: read, never acknowledged
    # the next drain (here another consumer, once the dead one's entries are idle) claims them
    done = await ingest.drain("after-the-kill", claim_idle_ms=0)
    assert done.entries > 0
    assert await totals() == {"rows": total, "ids": total, "counted": counted, "active": total}
    assert await ingest.backlog() == {"length": 0, "pending": 0}
