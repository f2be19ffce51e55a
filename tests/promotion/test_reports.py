"""Conversions after clicks, and reports per campaign and day for partners and operators."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ncm.accounts.models import Role, User
from ncm.playlists.models import Playlist, PlaylistSubscription, ShareChannel, ShareLink
from ncm.promotion import conversions, reports, tracking
from ncm.promotion.models import (
    CampaignConversion,
    CampaignKind,
    EventKind,
    ObjectKind,
    PromotionClick,
)
from ncm.promotion.profiles import ViewerProfile
from ncm.schema.base import to_global_id
from ncm.stream.models import PlayEvent
from tests import factories
from tests.conftest import GraphQLClient, login_token, make_user
from tests.promotion.helpers import OPERATOR, live_campaign, partner, partner_user


async def play(user_id: int, track_id: int, at: datetime, pid: str) -> PlayEvent:
    return await PlayEvent.create(
        play_id=pid,
        user_id=user_id,
        track_id=track_id,
        started_at=at,
        day=at.date(),
        seconds_played=60,
        counted=True,
    )


async def test_conversions_follow_clicks_on_the_promoted_object() -> None:
    p = await partner()
    album = await factories.album("Promoted album")
    on_album = await factories.track("On the album", on=album)
    elsewhere = await factories.track("Elsewhere")
    c = await live_campaign(
        p,
        kind=CampaignKind.ORIGINAL_MUSIC,
        object_kind=ObjectKind.ALBUM,
        object_id=album.id,
        starts_at=datetime.now(UTC) - timedelta(days=3),
    )
    clicker = await make_user("clicker")
    stranger = await make_user("stranger")
    now = datetime.now(UTC)
    await PromotionClick.create(
        event_key="k1",
        campaign_id=c.id,
        user_id=clicker.id,
        region="TW",
        at=now - timedelta(hours=2),
    )
    await PromotionClick.create(
        event_key="k0",
        campaign_id=c.id,
        user_id=clicker.id,
        region="TW",
        at=now - timedelta(hours=60),
    )
    converted = await play(clicker.id, on_album.id, now - timedelta(hours=1), "a")
    await play(clicker.id, elsewhere.id, now - timedelta(hours=1), "b")  # not the object
    await play(stranger.id, on_album.id, now - timedelta(hours=1), "c")  # never clicked
    await play(clicker.id, on_album.id, now - timedelta(hours=30), "d")  # 30 h after k0
    await play(clicker.id, on_album.id, now - timedelta(hours=3), "e")  # before the click...
    # ... but 57 h after k0: outside the 24 hours too.
    assert await conversions.attribute() == 1
    assert await conversions.attribute() == 0  # the cursor moved on; reruns add nothing
    conversion = await CampaignConversion.get()
    assert (conversion.source_id, conversion.kind, conversion.region) == (
        converted.id,
        "PLAY",
        "TW",
    )


async def test_playlist_subscriptions_and_shares_convert() -> None:
    p = await partner()
    owner = await make_user("owner")
    playlist = await Playlist.create(owner_id=owner.id, title="C-pop now")
    c = await live_campaign(
        p, kind=CampaignKind.PLAYLIST, object_kind=ObjectKind.PLAYLIST, object_id=playlist.id
    )
    fan = await make_user("fan")
    await PromotionClick.create(
        event_key="k", campaign_id=c.id, user_id=fan.id, at=datetime.now(UTC) - timedelta(minutes=5)
    )
    await PlaylistSubscription.create(user_id=fan.id, playlist_id=playlist.id)
    await ShareLink.create(
        token="t1", sharer_id=fan.id, channel=ShareChannel.WECHAT, playlist_id=playlist.id
    )
    assert await conversions.attribute() == 2
    kinds = sorted(x.kind for x in await CampaignConversion.all())
    assert kinds == ["SHARE", "SUBSCRIBE"]


async def test_report_per_day_and_region(gql: GraphQLClient) -> None:
    kkbox, other = await partner("KKBOX"), await partner("JOOX")
    start = datetime.now(UTC) - timedelta(hours=1)
    c = await live_campaign(
        kkbox, starts_at=start, ends_at=start + timedelta(days=10), booked_impressions=1000
    )
    now = datetime.now(UTC)
    tw = [ViewerProfile(f"u{n}", n, "TW", None, False, frozenset()) for n in range(1, 4)]
    hk = ViewerProfile("u9", 9, "HK", None, False, frozenset())
    for v in tw:
        await tracking.record(
            v,
            [
                tracking.EventIn(f"i{v.key}{k}", c.id, "HOME_BANNER", EventKind.IMPRESSION, now)
                for k in range(4)
            ],
        )
    await tracking.record(
        tw[0], [tracking.EventIn("clk", c.id, "HOME_BANNER", EventKind.CLICK, now)]
    )
    await tracking.record(
        hk, [tracking.EventIn("i", c.id, "HOME_BANNER", EventKind.IMPRESSION, now)]
    )
    await tracking.flush()
    await CampaignConversion.create(
        campaign_id=c.id,
        click_id=1,
        user_id=1,
        kind="PLAY",
        source_id=1,
        day=now.date(),
        region="TW",
        at=now,
    )
    today = now.date()
    report = await reports.campaign_report(OPERATOR, c.id, today - timedelta(days=1), today)
    first, second = report.days
    assert first.impressions == 0 and first.delivered_to_date == 0
    assert (second.impressions, second.unique_viewers, second.clicks, second.conversions) == (
        13,
        4,
        1,
        1,
    )
    assert second.expected_to_date == reports.expected_by(
        c, datetime.combine(today + timedelta(days=1), datetime.min.time(), UTC)
    )
    assert [(r.region, r.impressions, r.unique_viewers, r.clicks) for r in second.regions] == [
        ("HK", 1, 1, 0),
        ("TW", 12, 3, 1),
    ]
    assert abs(second.ctr - 1 / 13) < 1e-9

    alice = await login_token(await partner_user(kkbox, "alice"))
    bob = await login_token(await partner_user(other, "bob"))
    admin = await login_token(await make_user("root", role=Role.ADMIN))
    query = """query($c: ID!, $f: Date!, $t: Date!) { campaignReport(campaignId: $c, from: $f, to: $t) {
      bookedImpressions total { impressions uniqueViewers clicks ctr conversions }
      days { day impressions pacing expectedToDate deliveredToDate regions { region impressions } } } }"""
    variables: dict[str, Any] = {
        "c": to_global_id("Campaign", c.id),
        "f": str(today),
        "t": str(today),
    }
    for token in (alice, admin):
        body = await gql(query, variables, token=token)
        got = body["data"]["campaignReport"]
        assert got["total"]["impressions"] == 13 and got["total"]["conversions"] == 1
        assert got["days"][0]["regions"] == [
            {"region": "HK", "impressions": 1},
            {"region": "TW", "impressions": 12},
        ]
    denied = await gql(query, variables, token=bob, expect_errors=True)
    assert denied["errors"][0]["extensions"]["code"] == "CAMPAIGN_NOT_FOUND"
    listener = await login_token(await make_user("carol"))
    denied = await gql(query, variables, token=listener, expect_errors=True)
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    wrong = await gql(
        query,
        {**variables, "f": str(today), "t": str(today - timedelta(days=3))},
        token=admin,
        expect_errors=True,
    )
    assert wrong["errors"][0]["extensions"]["code"] == "INVALID_DATE_RANGE"
    assert await User.filter(role=Role.PARTNER).count() == 2
