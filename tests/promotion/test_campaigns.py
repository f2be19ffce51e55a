"""Campaign rules: validation, the workflow and its races, time-driven steps, promoted
objects that disappear."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ncm.catalog.models import Track, TrackStatus
from ncm.errors import InvalidInput
from ncm.playlists.models import Playlist, Privacy
from ncm.promotion import campaigns, live, profiles
from ncm.promotion.models import Campaign, CampaignAudit, CampaignKind, CampaignStatus, ObjectKind
from tests import factories
from tests.conftest import make_user
from tests.promotion.helpers import OPERATOR, live_campaign, partner, spec

S = CampaignStatus


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "timeZone"),
        ({"ends_at": datetime(2020, 1, 1, tzinfo=UTC)}, "endsAt"),
        ({"placements": []}, "placements"),
        ({"regions": ["XX"]}, "regions"),
        ({"languages": ["not a tag"]}, "languages"),
        ({"weight": 0}, "weight"),
        ({"priority": 101}, "priority"),
        ({"link_url": "ftp://x"}, "linkUrl"),
        ({"venue": None}, "eventAt"),
        ({"object_kind": ObjectKind.TRACK, "object_id": 999}, "objectId"),
        ({"genre_ids": [12345]}, "genreIds"),
    ],
)
async def test_invalid_campaigns_are_refused(overrides: dict[str, object], field: str) -> None:
    p = await partner()
    with pytest.raises(InvalidInput) as caught:
        await campaigns.create_campaign(OPERATOR, spec(**overrides), partner_id=p.id)
    assert caught.value.field == field


async def test_schedule_in_a_time_zone_and_object_title() -> None:
    p = await partner()
    track = await factories.track("Fly away")
    c = await campaigns.create_campaign(
        OPERATOR,
        spec(
            kind=CampaignKind.ORIGINAL_MUSIC,
            object_kind=ObjectKind.TRACK,
            object_id=track.id,
            title=None,
            starts_at=datetime(2031, 3, 1, 0, 0),
            ends_at=datetime(2031, 3, 8, 0, 0),
            time_zone="Asia/Taipei",
        ),
        partner_id=p.id,
    )
    assert c.title == "Fly away" and c.link_url is None
    assert c.starts_at == datetime(2031, 2, 28, 16, 0, tzinfo=UTC)  # midnight in Taipei


async def test_workflow_steps_and_wrong_steps() -> None:
    p = await partner()
    c = await campaigns.create_campaign(
        OPERATOR, spec(starts_at=datetime.now(UTC) + timedelta(days=1)), partner_id=p.id
    )
    with pytest.raises(InvalidInput) as caught:
        await campaigns.approve(OPERATOR, c.id)
    assert caught.value.code == "INVALID_TRANSITION"
    await campaigns.submit(OPERATOR, c.id)
    await campaigns.reject(OPERATOR, c.id, "image too small")
    await campaigns.update_campaign(OPERATOR, c.id, spec(name="v2"))
    await campaigns.submit(OPERATOR, c.id)
    approved = await campaigns.approve(OPERATOR, c.id)
    assert approved.status == S.LIVE  # the edit moved the start to an hour ago
    paused = await campaigns.pause(OPERATOR, c.id)
    assert paused.status == S.PAUSED
    with pytest.raises(InvalidInput):
        await campaigns.update_campaign(OPERATOR, c.id, spec(name="v3"))
    await campaigns.end(OPERATOR, c.id, "sold out")
    with pytest.raises(InvalidInput):
        await campaigns.resume(OPERATOR, c.id)
    steps = [
        (a.action, a.from_status, a.to_status)
        for a in await CampaignAudit.filter(campaign_id=c.id).order_by("id")
    ]
    assert steps == [
        ("create", None, "DRAFT"),
        ("submit", "DRAFT", "SUBMITTED"),
        ("reject", "SUBMITTED", "DRAFT"),
        ("edit", "DRAFT", "DRAFT"),
        ("submit", "DRAFT", "SUBMITTED"),
        ("approve", "SUBMITTED", "APPROVED"),
        ("go_live", "APPROVED", "LIVE"),
        ("pause", "LIVE", "PAUSED"),
        ("end", "PAUSED", "ENDED"),
    ]


async def test_racing_approvals_apply_once() -> None:
    p = await partner()
    c = await campaigns.create_campaign(OPERATOR, spec(), partner_id=p.id)
    await campaigns.submit(OPERATOR, c.id)
    results = await asyncio.gather(
        *(campaigns.approve(OPERATOR, c.id) for _ in range(4)), return_exceptions=True
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, InvalidInput) for r in results if isinstance(r, Exception))
    assert await CampaignAudit.filter(campaign_id=c.id, action="approve").count() == 1


async def test_time_moves_scheduled_to_live_to_ended() -> None:
    p = await partner()
    now = datetime.now(UTC)
    c = await campaigns.create_campaign(
        OPERATOR,
        spec(starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=2)),
        partner_id=p.id,
    )
    await campaigns.submit(OPERATOR, c.id)
    assert (await campaigns.approve(OPERATOR, c.id)).status == S.SCHEDULED
    assert await campaigns.advance_all(now + timedelta(minutes=90)) == 1
    assert (await Campaign.get(id=c.id)).status == S.LIVE
    assert await campaigns.advance_all(now + timedelta(hours=3)) == 1
    assert (await Campaign.get(id=c.id)).status == S.ENDED
    assert await campaigns.advance_all(now + timedelta(hours=3)) == 0


async def test_disappearing_objects_stop_being_served() -> None:
    p = await partner()
    owner = await make_user("owner")
    playlist = await Playlist.create(owner_id=owner.id, title="Mandopop hits")
    track = await factories.track("Single")
    by_playlist = await live_campaign(
        p, kind=CampaignKind.PLAYLIST, object_kind=ObjectKind.PLAYLIST, object_id=playlist.id
    )
    by_track = await live_campaign(
        p,
        kind=CampaignKind.ORIGINAL_MUSIC,
        object_kind=ObjectKind.TRACK,
        object_id=track.id,
        name="single",
    )
    viewer = profiles.anonymous("x")

    async def served() -> set[int]:
        return {c.id for c in await live.promotions(viewer, "HOME_BANNER", 5)}

    assert await served() == {by_playlist.id, by_track.id}
    await Playlist.filter(id=playlist.id).update(privacy=Privacy.PRIVATE)
    await Track.filter(id=track.id).update(status=TrackStatus.WITHDRAWN)
    assert await campaigns.check_objects() == 2  # the job: marks them and reloads the live set
    assert await served() == set()
    assert not (await Campaign.get(id=by_playlist.id)).object_available
    await Playlist.filter(id=playlist.id).update(privacy=Privacy.PUBLIC)
    assert await campaigns.check_objects() == 1
    assert await served() == {by_playlist.id}
