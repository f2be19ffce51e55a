"""reportPlay: idempotent on playId; play counts, share credits and MAU move by the job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ncm.catalog.models import Track
from ncm.kit import jobs
from ncm.playlists.models import ShareChannel, ShareLink
from ncm.playlists.shares import share_track
from ncm.stream import ingest, plays
from ncm.stream.jobs import aggregate_plays
from ncm.stream.models import PlayEvent, UserDailyActivity
from tests import factories
from tests.conftest import login_token, make_user
from tests.stream.helpers import gid

pytestmark = pytest.mark.asyncio

REPORT = """mutation($input: ReportPlayInput!) { reportPlay(input: $input) {
  __typename
  ... on ReportPlayPayload { duplicate play { playId secondsPlayed counted source
                                               track { title } } }
  ... on Error { code message field } } }"""
RECENT = """query($first: Int, $after: String) { viewer { recentlyPlayed(first: $first, after: $after) {
  edges { node { playId track { title } } } pageInfo { hasNextPage endCursor } } } }"""


def play_input(track_id: int, play_id: str, seconds: int = 45, **extra: Any) -> dict[str, Any]:
    started = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    return {
        "playId": play_id,
        "trackId": gid(track_id),
        "startedAt": started,
        "secondsPlayed": seconds,
        **extra,
    }


async def report(gql: Any, token: str, **kwargs: Any) -> dict[str, Any]:
    body = await gql(REPORT, {"input": play_input(**kwargs)}, token=token)
    return body["data"]["reportPlay"]


async def settle() -> None:
    """Let the in-process job finish (SQLite pass), then aggregate for certain (no cron in
    tests): the second run must find nothing left."""
    await jobs.drain()
    await aggregate_plays({})


async def test_report_is_idempotent_and_counts_after_aggregation(gql: Any) -> None:
    user = await make_user("ann")
    token = await login_token(user)
    track = await factories.track("Song")
    first = await report(gql, token, track_id=track.id, play_id="play-0001", source="SEARCH")
    assert first["__typename"] == "ReportPlayPayload" and first["duplicate"] is False
    assert first["play"]["counted"] is True and first["play"]["track"]["title"] == "Song"
    again = await report(gql, token, track_id=track.id, play_id="play-0001", seconds=99)
    assert again["duplicate"] is True and again["play"]["secondsPlayed"] == 45
    short = await report(gql, token, track_id=track.id, play_id="play-0002", seconds=29)
    assert short["play"]["counted"] is False
    await settle()
    assert (await Track.get(id=track.id)).play_count == 1
    assert await PlayEvent.filter(aggregated=False).count() == 0
    await aggregate_plays({})  # a retried job counts nothing twice
    assert (await Track.get(id=track.id)).play_count == 1
    activity = await UserDailyActivity.get(user_id=user.id)
    assert activity.plays == 2  # both plays make the user active, only one counts


async def test_a_play_id_of_someone_else_is_a_conflict(gql: Any) -> None:
    track = await factories.track()
    await report(
        gql, await login_token(await make_user("ann")), track_id=track.id, play_id="shared-id-1"
    )
    other = await report(
        gql, await login_token(await make_user("bob")), track_id=track.id, play_id="shared-id-1"
    )
    assert other["__typename"] == "ConflictError" and other["code"] == "PLAY_ID_TAKEN"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"playId": "short"}, "playId"),
        ({"secondsPlayed": -1}, "secondsPlayed"),
        ({"secondsPlayed": 5000}, "secondsPlayed"),
        ({"startedAt": "2001-01-01T00:00:00+00:00"}, "startedAt"),
        ({"shareToken": "nope"}, "shareToken"),
    ],
)
async def test_bad_reports_are_typed_errors(gql: Any, change: dict[str, Any], field: str) -> None:
    token = await login_token(await make_user("ann"))
    track = await factories.track()
    body = await gql(
        REPORT, {"input": {**play_input(track.id, "valid-play-id"), **change}}, token=token
    )
    result = body["data"]["reportPlay"]
    assert result["__typename"] == "InvalidInputError" and result["field"] == field
    assert await PlayEvent.all().count() == 0


async def test_reporting_needs_a_login_and_a_real_track(gql: Any) -> None:
    track = await factories.track()
    body = await gql(REPORT, {"input": play_input(track.id, "anon-play-1")}, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    token = await login_token(await make_user("ann"))
    missing = await report(gql, token, track_id=999_999, play_id="missing-1")
    assert missing["__typename"] == "NotFoundError"


async def test_plays_from_a_share_are_credited_to_it(gql: Any) -> None:
    sharer, listener = await make_user("ann"), await make_user("bob")
    track, other = await factories.track(), await factories.track()
    share = await share_track(sharer, track.id, ShareChannel.WECHAT)
    token = await login_token(listener)
    ok = await report(
        gql,
        token,
        track_id=track.id,
        play_id="from-share-1",
        shareToken=share.token,
        source="SHARE",
    )
    assert ok["__typename"] == "ReportPlayPayload"
    wrong = await report(
        gql, token, track_id=other.id, play_id="from-share-2", shareToken=share.token
    )
    assert wrong["__typename"] == "InvalidInputError"
    await settle()
    assert (await ShareLink.get(id=share.id)).play_count == 1
    assert (await PlayEvent.get(play_id="from-share-1")).share_id == share.id


async def test_recently_played_pages_newest_first(gql: Any) -> None:
    token = await login_token(await make_user("ann"))
    songs = [await factories.track(f"Song {i}") for i in range(3)]
    for i, song in enumerate(songs):
        await report(gql, token, track_id=song.id, play_id=f"recent-{i:04d}")
    page = (await gql(RECENT, {"first": 2}, token=token))["data"]["viewer"]["recentlyPlayed"]
    assert [e["node"]["track"]["title"] for e in page["edges"]] == ["Song 2", "Song 1"]
    rest = await gql(RECENT, {"first": 2, "after": page["pageInfo"]["endCursor"]}, token=token)
    edges = rest["data"]["viewer"]["recentlyPlayed"]["edges"]
    assert [e["node"]["playId"] for e in edges] == ["recent-0000"]


async def test_aggregation_chunks_and_mau() -> None:
    users = [await make_user(f"user{i}") for i in range(3)]
    track = await factories.track()
    now = datetime.now(UTC)
    last_month = now - timedelta(days=now.day + 1)
    for i, user in enumerate(users):
        for j in range(3):
            when = last_month if i == 0 else now - timedelta(minutes=j)
            await plays.report_play(
                user,
                play_id=f"mau-{i}-{j}-xx",
                track_id=track.id,
                started_at=when,
                seconds_played=40,
                now=when + timedelta(minutes=10),
            )
    await jobs.drain()
    if ingest.enabled():  # batched: the stream's drain writes and counts
        await ingest.drain()
    await plays.aggregate_pending(chunk=2)  # several chunks, each its own transaction
    assert (await Track.get(id=track.id)).play_count == 9
    assert await plays.monthly_active_users(now.year, now.month) == 2
    assert await plays.monthly_active_users(last_month.year, last_month.month) == 1


async def test_reports_are_rate_limited_per_user(gql: Any, monkeypatch: Any) -> None:
    """A script inflating play counts is stopped at the per-minute limit; others are not."""
    from ncm.config import reset_settings

    monkeypatch.setenv("NCM_PLAY_REPORTS_PER_MINUTE", "3")
    reset_settings()
    try:
        bot, fan = await make_user("bot"), await make_user("fan")
        bot_token, fan_token = await login_token(bot), await login_token(fan)
        track = await factories.track("Song")
        results = [
            await report(gql, bot_token, track_id=track.id, play_id=f"bot-play-{i:04d}")
            for i in range(4)
        ]
        assert [r["__typename"] for r in results[:3]] == ["ReportPlayPayload"] * 3
        limited = await gql(
            REPORT.replace(
                "... on Error", "... on RateLimitedError { retryAfterSeconds } ... on Error"
            ),
            {"input": play_input(track.id, "bot-play-0005")},
            token=bot_token,
        )
        body = limited["data"]["reportPlay"]
        assert body["__typename"] == "RateLimitedError" and body["code"] == "RATE_LIMITED"
        assert 1 <= body["retryAfterSeconds"] <= 60
        await settle()
        assert await PlayEvent.filter(user_id=bot.id).count() == 3
        ok = await report(gql, fan_token, track_id=track.id, play_id="fan-play-0001")
        assert ok["__typename"] == "ReportPlayPayload"
    finally:
        monkeypatch.undo()
        reset_settings()


async def test_a_short_track_counts_when_played_to_the_end(gql: Any) -> None:
    token = await login_token(await make_user("short"))
    track = await factories.track("Jingle")
    await Track.filter(id=track.id).update(duration_ms=15_000)
    whole = await report(gql, token, track_id=track.id, play_id="play-s-1", seconds=15)
    assert whole["play"]["counted"] is True
    part = await report(gql, token, track_id=track.id, play_id="play-s-2", seconds=14)
    assert part["play"]["counted"] is False
    # The bound the message states is the bound enforced.
    over = await report(gql, token, track_id=track.id, play_id="play-s-3", seconds=46)
    assert over["code"] == "INVALID_INPUT" and over["field"] == "secondsPlayed"
    assert "between 0 and 45" in over["message"]
    edge = await report(gql, token, track_id=track.id, play_id="play-s-4", seconds=45)
    assert edge["__typename"] == "ReportPlayPayload"
    await settle()
    assert (await Track.get(id=track.id)).play_count == 2
