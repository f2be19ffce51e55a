"""Serving: targeting, priority and weights, stable within the hour, no database per request,
the live set refreshed on change."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from ncm.accounts.models import User
from ncm.billing.models import MembershipPeriod, PeriodSource
from ncm.catalog.models import Genre
from ncm.promotion import campaigns, live, profiles
from ncm.promotion.models import Audience, CampaignKind, ObjectKind, Placement
from ncm.schema.base import to_global_id
from ncm.stream.models import PlayEvent
from tests import factories
from tests.conftest import GraphQLClient, count_queries, login_token, make_user
from tests.promotion.helpers import OPERATOR, live_campaign, partner

PROMOTIONS = "query($p: PromotionPlacement!, $n: Int) { promotions(placement: $p, limit: $n) { campaignId title kind objectKind objectId linkUrl venue } }"


async def located_user(handle: str, **fields: str) -> User:
    user = await make_user(handle)
    await User.filter(id=user.id).update(**fields)
    return await User.get(id=user.id)


def viewer(key: str, **fields: object) -> profiles.ViewerProfile:
    values: dict[str, object] = {
        "key": key,
        "user_id": None,
        "region": None,
        "language": None,
        "member": False,
        "genres": frozenset(),
    }
    values.update(fields)
    return profiles.ViewerProfile(**values)  # type: ignore[arg-type]


async def test_targeting() -> None:
    p = await partner()
    pop = await factories.genre("pop")
    tw = await live_campaign(p, name="tw", regions=["TW"], languages=["zh"])
    members = await live_campaign(p, name="members", audience=Audience.MEMBERS)
    others = await live_campaign(p, name="others", audience=Audience.NON_MEMBERS)
    popfans = await live_campaign(p, name="pop", genre_ids=[pop.id])
    banner_only = await live_campaign(p, name="feed", placements=[Placement.DISCOVER_FEED])

    async def ids(v: profiles.ViewerProfile, placement: str = "HOME_BANNER") -> set[int]:
        return {c.id for c in await live.promotions(v, placement, 10)}

    assert await ids(viewer("a")) == {others.id}
    assert await ids(viewer("b", region="TW", language="zh-Hant")) == {tw.id, others.id}
    assert await ids(viewer("c", region="TW", language="en")) == {others.id}
    assert await ids(viewer("d", region="HK", language="zh")) == {others.id}
    assert await ids(viewer("e", member=True, genres=frozenset({pop.id}))) == {
        members.id,
        popfans.id,
    }
    assert await ids(viewer("f"), "DISCOVER_FEED") == {banner_only.id}
    assert await ids(viewer("f"), "NOW_PLAYING") == set()


async def test_profile_reads_region_membership_and_genres() -> None:
    user = await located_user("dora", region="TW", language="zh-Hant")
    track = await factories.track(genres=["mandopop"])
    now = datetime.now(UTC)
    await PlayEvent.create(
        play_id="p1",
        user_id=user.id,
        track_id=track.id,
        started_at=now,
        day=now.date(),
        seconds_played=60,
        counted=True,
    )
    await MembershipPeriod.create(
        user_id=user.id,
        source=PeriodSource.ADMIN_GRANT,
        reference="t",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=1),
    )
    found = await profiles.profile(user.id)
    assert found is not None
    genre = await Genre.get(slug="mandopop")
    assert (found.region, found.language, found.member, found.genres) == (
        "TW",
        "zh-Hant",
        True,
        frozenset({genre.id}),
    )


async def test_priority_first_then_weights() -> None:
    p = await partner()
    top = await live_campaign(p, name="top", priority=10)
    heavy = await live_campaign(p, name="heavy", weight=3)
    light = await live_campaign(p, name="light", weight=1)
    firsts: Counter[int] = Counter()
    seconds: Counter[int] = Counter()
    for n in range(4000):
        chosen = await live.promotions(viewer(f"v{n}"), "HOME_BANNER", 2)
        assert chosen[0].id == top.id
        firsts[chosen[0].id] += 1
        seconds[chosen[1].id] += 1
    assert firsts[top.id] == 4000
    share = seconds[heavy.id] / 4000
    assert 0.72 <= share <= 0.78, share  # 3 / (3 + 1)
    assert seconds[light.id] == 4000 - seconds[heavy.id]


async def test_stable_for_a_viewer_within_the_hour() -> None:
    p = await partner()
    for n in range(6):
        await live_campaign(p, name=f"c{n}")
    hour_start = (time.time() // 3600) * 3600
    changed = 0
    for n in range(50):
        v = viewer(f"v{n}")
        first = [c.id for c in await live.promotions(v, "HOME_BANNER", 2, hour_start + 10)]
        for minute in range(1, 60, 7):
            again = await live.promotions(v, "HOME_BANNER", 2, hour_start + minute * 60)
            assert [c.id for c in again] == first
        later = await live.promotions(v, "HOME_BANNER", 2, hour_start + 3600 + 10)
        changed += [c.id for c in later] != first
    assert changed > 10  # the next hour is a new draw


async def test_graphql_promotions_touch_no_database(gql: GraphQLClient) -> None:
    p = await partner()
    track = await factories.track("Promoted")
    c = await live_campaign(
        p,
        kind=CampaignKind.ORIGINAL_MUSIC,
        object_kind=ObjectKind.TRACK,
        object_id=track.id,
        regions=["TW"],
    )
    user = await located_user("erin", region="TW")
    token = await login_token(user)
    warm = await gql(PROMOTIONS, {"p": "HOME_BANNER", "n": 3}, token=token)
    assert warm["data"]["promotions"][0]["campaignId"] == to_global_id("Campaign", c.id)
    assert warm["data"]["promotions"][0]["objectId"] == to_global_id("Track", track.id)
    with count_queries() as counted:
        for _ in range(20):
            body = await gql(PROMOTIONS, {"p": "HOME_BANNER", "n": 3}, token=token)
            assert len(body["data"]["promotions"]) == 1
            anonymous = await gql(PROMOTIONS, {"p": "HOME_BANNER", "n": 3})
            assert anonymous["data"]["promotions"] == []  # targeted at TW
    assert counted.count == 0, counted.queries
    bad = await gql(PROMOTIONS, {"p": "HOME_BANNER", "n": 50}, expect_errors=True)
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_changes_reach_the_live_set() -> None:
    p = await partner()
    c = await live_campaign(p)
    v = viewer("x")
    assert [x.id for x in await live.promotions(v, "HOME_BANNER", 1)] == [c.id]
    await campaigns.pause(OPERATOR, c.id)  # this process: at once
    assert await live.promotions(v, "HOME_BANNER", 1) == []
    await campaigns.resume(OPERATOR, c.id)
    assert [x.id for x in await live.promotions(v, "HOME_BANNER", 1)] == [c.id]


@pytest.mark.postgres_only
async def test_another_process_change_is_seen_within_a_second() -> None:
    from ncm.kit.redis import get_redis
    from ncm.promotion.models import Campaign, CampaignStatus

    p = await partner()
    c = await live_campaign(p)
    v = viewer("x")
    now = time.time()
    assert [x.id for x in await live.promotions(v, "HOME_BANNER", 1, now)] == [c.id]
    # Another process pauses it: the row changes and the version key moves; nothing local.
    await Campaign.filter(id=c.id).update(status=CampaignStatus.PAUSED)
    redis = await get_redis()
    assert redis is not None
    await redis.incr(live._version_key())
    assert [x.id for x in await live.promotions(v, "HOME_BANNER", 1, now + 0.1)] == [c.id]
    assert await live.promotions(v, "HOME_BANNER", 1, now + live.SYNC_SECONDS + 0.1) == []
