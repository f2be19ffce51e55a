"""Conversions: an action of a user on the promoted object within 24 hours of their click.

The ``promotion_conversions`` job reads the other domains' tables from where it stopped (a
cursor by id per table, chunked): plays (``play_events``), playlist subscriptions, likes (a
track added to a user's liked songs) and shares (``share_links``). An action converts for the
campaign whose click by the same user came last before it, within :data:`WINDOW`, when the
campaign promotes that object (the track itself, its album, its artist, or a playlist that
holds it; the playlist for subscriptions and shares of a playlist). Each action converts at
most once (unique by kind and source row), so the job is idempotent and may rerun.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ncm.kit.sql import as_datetime, fetch
from ncm.promotion import objects
from ncm.promotion.models import (
    Campaign,
    CampaignConversion,
    ConversionKind,
    ObjectKind,
    PromotionClick,
    PromotionCursor,
)

WINDOW = timedelta(hours=24)
CHUNK = 1000

SOURCES: dict[str, tuple[ConversionKind, str]] = {
    "plays": (
        ConversionKind.PLAY,
        "SELECT id, user_id, track_id, NULL AS playlist_id, started_at AS at FROM play_events "
        "WHERE id > $1 ORDER BY id LIMIT $2",
    ),
    "subscriptions": (
        ConversionKind.SUBSCRIBE,
        "SELECT id, user_id, NULL AS track_id, playlist_id, created_at AS at "
        "FROM playlist_subscriptions WHERE id > $1 ORDER BY id LIMIT $2",
    ),
    "likes": (
        ConversionKind.LIKE,
        "SELECT e.id AS id, p.liked_owner_id AS user_id, e.track_id AS track_id, "
        "NULL AS playlist_id, e.added_at AS at FROM playlist_entries e "
        "JOIN playlists p ON p.id = e.playlist_id "
        "WHERE e.id > $1 AND p.liked_owner_id IS NOT NULL ORDER BY e.id LIMIT $2",
    ),
    "shares": (
        ConversionKind.SHARE,
        "SELECT id, sharer_id AS user_id, track_id, playlist_id, created_at AS at "
        "FROM share_links WHERE id > $1 ORDER BY id LIMIT $2",
    ),
}


async def attribute(max_chunks: int = 100) -> int:
    """Read the new actions of every source and record their conversions; returns how many."""
    made = 0
    tracks_cache: dict[int, set[int]] = {}
    for name, (kind, query) in SOURCES.items():
        cursor, _ = await PromotionCursor.get_or_create(name=name)
        for _ in range(max_chunks):
            rows = await fetch(query, [cursor.last_id, CHUNK])
            if not rows:
                break
            made += await _convert(kind, rows, tracks_cache)
            cursor.last_id = int(rows[-1]["id"])
            await cursor.save(update_fields=["last_id"])
            if len(rows) < CHUNK:
                break
    return made


async def _convert(
    kind: ConversionKind, rows: Sequence[dict[str, Any]], tracks_cache: dict[int, set[int]]
) -> int:
    actions = [{**r, "at": as_datetime(r["at"])} for r in rows if r["user_id"] is not None]
    if not actions:
        return 0
    users = {int(a["user_id"]) for a in actions}
    earliest = min(a["at"] for a in actions) - WINDOW
    latest = max(a["at"] for a in actions)
    clicks = await PromotionClick.filter(
        user_id__in=users, at__gte=earliest, at__lte=latest
    ).order_by("-at")
    if not clicks:
        return 0
    campaigns = {c.id: c for c in await Campaign.filter(id__in={c.campaign_id for c in clicks})}
    for c in campaigns.values():
        if c.id not in tracks_cache and c.object_id is not None:
            tracks_cache[c.id] = await objects.tracks_of(c.object_kind, c.object_id)
    by_user: dict[int, list[PromotionClick]] = {}
    for click in clicks:  # newest first
        by_user.setdefault(click.user_id, []).append(click)
    made: list[CampaignConversion] = []
    for action in actions:
        for click in by_user.get(int(action["user_id"]), ()):
            if not action["at"] - WINDOW <= click.at <= action["at"]:
                continue
            campaign = campaigns.get(click.campaign_id)
            if campaign is None or not _matches(campaign, action, tracks_cache):
                continue
            made.append(
                CampaignConversion(
                    campaign_id=campaign.id,
                    click_id=click.id,
                    user_id=click.user_id,
                    kind=kind,
                    source_id=int(action["id"]),
                    day=action["at"].astimezone(ZoneInfo(campaign.time_zone)).date(),
                    region=click.region,
                    at=action["at"],
                )
            )
            break
    if made:
        await CampaignConversion.bulk_create(made, ignore_conflicts=True)
    return len(made)


def _matches(campaign: Campaign, action: dict[str, Any], tracks: dict[int, set[int]]) -> bool:
    if campaign.object_id is None:
        return False
    playlist_id = action.get("playlist_id")
    if playlist_id is not None:
        return (
            campaign.object_kind == ObjectKind.PLAYLIST and int(playlist_id) == campaign.object_id
        )
    track_id = action.get("track_id")
    return track_id is not None and int(track_id) in tracks.get(campaign.id, set())
