"""What a decision needs from the database, loaded set-based: a queue of any length costs
the same statements as one track (tracks, renditions, licenses; the user and membership)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from ncm.billing import entitlement as billing
from ncm.catalog.models import FeePolicy, Quality, TrackStatus
from ncm.kit.sql import any_of, as_datetime, fetch
from ncm.stream.decision import LicenseFacts, ListenerFacts, RenditionFacts, TrackFacts, rank


def _when(value: object) -> datetime | None:
    return None if value is None else as_datetime(value)


async def load_tracks(track_ids: Sequence[int]) -> dict[int, TrackFacts]:
    """``{id: facts}`` for the ids that exist: three statements whatever the count."""
    ids = list(dict.fromkeys(track_ids))
    if not ids:
        return {}
    where, params = any_of("id", ids, 1)
    tracks = await fetch(
        f"SELECT id, status, fee_policy, duration_ms FROM tracks WHERE {where}", params
    )
    if not tracks:
        return {}
    where, params = any_of("track_id", [t["id"] for t in tracks], 1)
    renditions: dict[int, list[RenditionFacts]] = defaultdict(list)
    for r in await fetch(
        "SELECT id, track_id, quality, bitrate, format, size_bytes, path FROM renditions"
        f" WHERE {where}",
        params,
    ):
        renditions[r["track_id"]].append(
            RenditionFacts(
                r["id"],
                Quality(r["quality"]),
                r["bitrate"],
                r["format"],
                int(r["size_bytes"]),
                r["path"],
            )
        )
    licenses: dict[int, list[LicenseFacts]] = defaultdict(list)
    for lic in await fetch(
        f"SELECT track_id, region, available_from, available_until FROM licenses WHERE {where}",
        params,
    ):
        licenses[lic["track_id"]].append(
            LicenseFacts(
                lic["region"].upper(), _when(lic["available_from"]), _when(lic["available_until"])
            )
        )
    return {
        t["id"]: TrackFacts(
            id=t["id"],
            status=TrackStatus(t["status"]),
            fee_policy=FeePolicy(t["fee_policy"]),
            duration_ms=t["duration_ms"],
            renditions=tuple(sorted(renditions[t["id"]], key=lambda r: rank(r.quality))),
            licenses=tuple(sorted(licenses[t["id"]], key=lambda lic: lic.region)),
        )
        for t in tracks
    }


async def load_listener(user_id: int | None, at: datetime) -> ListenerFacts:
    """The viewer's region (from their profile) and membership (from billing's entitlement,
    paid or granted). An unknown user is treated as logged out."""
    if user_id is None:
        return ListenerFacts(None, None)
    rows = await fetch("SELECT id, region FROM users WHERE id = $1", [user_id])
    if not rows:
        return ListenerFacts(None, None)
    found = (await billing.entitlements([user_id], at)).get(user_id)
    region = rows[0]["region"]
    return ListenerFacts(
        user_id,
        region.upper() if region else None,
        member=bool(found and found.active),
        member_source=found.source if found and found.active else None,
    )
