"""``playback`` / ``playbacks`` through GraphQL: every outcome, signed URLs that play, and a
queue's SQL count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from ncm.accounts.models import User
from ncm.catalog.models import FeePolicy, License, Quality, Rendition, Track, TrackStatus
from ncm.config import reset_settings
from tests import factories
from tests.conftest import count_queries, login_token, make_user
from tests.stream.conftest import Members
from tests.stream.helpers import PLAYBACK, PLAYBACKS, gid, track_with

pytestmark = pytest.mark.asyncio

ALL = (Quality.STANDARD, Quality.EXHIGH, Quality.LOSSLESS)


async def ask(gql, track_id: int, token: str | None, quality: str | None = None) -> dict:
    variables = {"id": gid(track_id)} | ({"q": quality} if quality else {})
    body = await gql(PLAYBACK, variables, token=token)
    return body["data"]["playback"]


async def test_free_track_plays_best_quality_and_url_serves_bytes(gql, http, members) -> None:
    user = await make_user("ann")
    token = await login_token(user)
    track = await track_with(ALL)
    found = await ask(gql, track.id, token)
    assert found["__typename"] == "Playable"
    assert found["quality"] == "LOSSLESS" and found["bitrate"] == 1411 and found["preview"] is None
    expires = datetime.fromisoformat(found["expiresAt"])
    assert timedelta(minutes=19) < expires - datetime.now(UTC) <= timedelta(minutes=20)
    url = urlsplit(found["url"])
    assert (
        url.path == f"/stream/{track.id}/" + url.path.split("/")[3] + f"/t/{track.id}/lossless.mp3"
    )
    assert f"u={user.id}" in url.query and "k=k1" in url.query
    got = await http.get(f"{url.path}?{url.query}")
    assert got.status_code == 200 and len(got.content) == 4000
    assert any("LOSSLESS" in step for step in found["explanation"])


async def test_members_only_gives_non_members_a_preview_and_members_the_track(
    gql, http, members: Members
) -> None:
    fan, vip = await make_user("fan"), await make_user("vip")
    members.add(vip.id, "COMPENSATION")  # granted, not paid: still a member
    track = await track_with(ALL, fee_policy=FeePolicy.MEMBERS_ONLY, size=100_000)
    preview = await ask(gql, track.id, await login_token(fan))
    assert preview["__typename"] == "Playable" and preview["quality"] == "STANDARD"
    assert preview["preview"] == {"startSeconds": 0.0, "endSeconds": 30.0}
    url = urlsplit(preview["url"])
    assert "r=0-14999" in url.query  # 30 s of a 200 s file of 100,000 bytes
    inside = await http.get(f"{url.path}?{url.query}", headers={"range": "bytes=0-99"})
    assert inside.status_code == 206
    outside = await http.get(f"{url.path}?{url.query}", headers={"range": "bytes=50000-50099"})
    assert outside.status_code == 403 and outside.json()["error"] == "OUTSIDE_PREVIEW"
    higher = await ask(gql, track.id, await login_token(fan), "LOSSLESS")
    assert higher["__typename"] == "MembershipRequired"
    assert higher["availableQualities"] == ["STANDARD"]
    full = await ask(gql, track.id, await login_token(vip))
    assert full["__typename"] == "Playable" and full["quality"] == "LOSSLESS"
    assert full["preview"] is None and "r=" not in urlsplit(full["url"]).query
    assert any("COMPENSATION" in step for step in full["explanation"])


async def test_free_standard_needs_membership_above_standard(gql, members: Members) -> None:
    user = await make_user("ann")
    token = await login_token(user)
    track = await track_with(ALL, fee_policy=FeePolicy.FREE_STANDARD)
    refused = await ask(gql, track.id, token, "EXHIGH")
    assert (
        refused["__typename"] == "MembershipRequired" and refused["code"] == "MEMBERSHIP_REQUIRED"
    )
    assert refused["availableQualities"] == ["STANDARD"]
    best = await ask(gql, track.id, token, "BEST")
    assert best["__typename"] == "Playable" and best["quality"] == "STANDARD"
    assert best["preview"] is None
    members.add(user.id)
    assert (await ask(gql, track.id, token, "EXHIGH"))["quality"] == "EXHIGH"


async def test_missing_quality_names_the_best_available(gql, members) -> None:
    token = await login_token(await make_user("ann"))
    track = await track_with((Quality.STANDARD, Quality.EXHIGH))
    found = await ask(gql, track.id, token, "HIRES")
    assert found["__typename"] == "QualityUnavailable"
    assert found["requested"] == "HIRES" and found["bestAvailable"] == "EXHIGH"


async def test_region_and_license_windows(gql, members) -> None:
    user = await make_user("ann")
    await User.filter(id=user.id).update(region="CN")
    token = await login_token(user)
    japan_only = await track_with()
    await License.filter(track_id=japan_only.id).update(region="JP")
    found = await ask(gql, japan_only.id, token)
    assert found["__typename"] == "NotLicensedInRegion" and found["region"] == "CN"
    now = datetime.now(UTC)
    later = await track_with()
    await License.filter(track_id=later.id).update(
        region="CN", available_from=now + timedelta(days=3)
    )
    found = await ask(gql, later.id, token)
    assert found["__typename"] == "TrackUnavailable" and found["reason"] == "NOT_YET_AVAILABLE"
    assert found["availableFrom"] is not None
    expired = await track_with()
    await License.filter(track_id=expired.id).update(available_until=now - timedelta(days=1))
    found = await ask(gql, expired.id, token)
    assert found["__typename"] == "TrackUnavailable" and found["reason"] == "LICENSE_EXPIRED"


async def test_withdrawn_missing_no_audio_and_anonymous(gql, members) -> None:
    token = await login_token(await make_user("ann"))
    withdrawn = await track_with(status=TrackStatus.WITHDRAWN)
    assert (await ask(gql, withdrawn.id, token))["reason"] == "WITHDRAWN"
    assert (await ask(gql, 999_999, token))["reason"] == "NOT_FOUND"
    silent = await track_with()
    await Rendition.filter(track_id=silent.id).delete()
    assert (await ask(gql, silent.id, token))["reason"] == "NO_RENDITIONS"
    anonymous = await ask(gql, silent.id, None)
    assert anonymous["__typename"] == "LoginRequired" and anonymous["message"]


async def test_forged_token_is_an_error_not_anonymous(gql) -> None:
    track = await track_with()
    body = await gql(PLAYBACK, {"id": gid(track.id)}, token="forged", expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_cdn_base_url_is_used_when_configured(gql, members, monkeypatch) -> None:
    monkeypatch.setenv("NCM_STREAM_CDN_BASE_URL", "https://cdn.example.com/")
    reset_settings()
    try:
        token = await login_token(await make_user("ann"))
        track = await track_with()
        found = await ask(gql, track.id, token)
        assert found["url"].startswith(f"https://cdn.example.com/stream/{track.id}/")
    finally:
        monkeypatch.delenv("NCM_STREAM_CDN_BASE_URL")
        reset_settings()


async def _queue(n: int) -> list[int]:
    artist = await factories.artist()
    album = await factories.album(by=artist)
    fees = [FeePolicy.FREE, FeePolicy.MEMBERS_ONLY, FeePolicy.FREE_STANDARD]
    await Track.bulk_create(
        [
            Track(title=f"Q{i}", album=album, duration_ms=180_000, fee_policy=fees[i % 3])
            for i in range(n)
        ]
    )
    ids = sorted(await Track.filter(album_id=album.id).values_list("id", flat=True))
    await Rendition.bulk_create(
        [
            Rendition(
                track_id=t,
                quality=q,
                bitrate=128,
                format="mp3",
                size_bytes=1000,
                path=f"q/{t}/{q.value}.mp3",
            )
            for t in ids
            for q in (Quality.STANDARD, Quality.EXHIGH)
        ]
    )
    await License.bulk_create([License(track_id=t, region="*") for t in ids])
    return ids


async def test_a_queue_of_50_costs_the_sql_of_one_track(gql, members: Members) -> None:
    user = await make_user("ann")
    token = await login_token(user)
    ids = await _queue(50)
    with count_queries() as one:
        body = await gql(PLAYBACKS, {"ids": [gid(ids[0])]}, token=token)
    assert body["data"]["playbacks"][0]["__typename"] == "Playable"
    with count_queries() as fifty:
        body = await gql(PLAYBACKS, {"ids": [gid(i) for i in ids]}, token=token)
    results = body["data"]["playbacks"]
    assert [r["trackId"] for r in results] == [gid(i) for i in ids]
    assert {r["__typename"] for r in results} == {"Playable"}
    assert [r["preview"] is not None for r in results[:3]] == [False, True, False]
    assert fifty.count == one.count <= 4, fifty.queries
    assert members.calls == 2  # one entitlement lookup per request, not per track


async def test_queue_limit_is_a_typed_error(gql) -> None:
    body = await gql(PLAYBACKS, {"ids": [gid(i) for i in range(1, 102)]}, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
