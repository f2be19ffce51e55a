from __future__ import annotations

from pathlib import Path
from typing import Any

from ncm.catalog.models import FeePolicy, Quality, Rendition
from ncm.config import get_settings
from ncm.schema.base import to_global_id
from tests import factories

BITRATES = {
    Quality.STANDARD: 128,
    Quality.HIGHER: 192,
    Quality.EXHIGH: 320,
    Quality.LOSSLESS: 1411,
    Quality.HIRES: 4608,
}


def gid(pk: int) -> str:
    return to_global_id("Track", pk)


def media_file(relative: str, size: int) -> Path:
    """A file of ``size`` bytes under the media root whose byte i is ``i % 251``."""
    path = get_settings().media_root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    pattern = bytes(i % 251 for i in range(251))
    data = (pattern * (size // 251 + 1))[:size]
    path.write_bytes(data)
    return path


def expected_bytes(start: int, end: int) -> bytes:
    pattern = bytes(i % 251 for i in range(251))
    return bytes(pattern[i % 251] for i in range(start, end + 1))


async def track_with(
    qualities: tuple[Quality, ...] = (Quality.STANDARD,),
    *,
    fee_policy: FeePolicy = FeePolicy.FREE,
    size: int = 4000,
    duration_ms: int = 200_000,
    **fields: Any,
) -> Any:
    """A track with real files for these qualities (the factory's STANDARD row is replaced)."""
    track = await factories.track(fee_policy=fee_policy, **fields)
    if duration_ms != track.duration_ms:
        track.duration_ms = duration_ms
        await track.save(update_fields=["duration_ms"])
    await Rendition.filter(track_id=track.id).delete()
    for q in qualities:
        relative = f"t/{track.id}/{q.value.lower()}.mp3"
        media_file(relative, size)
        await Rendition.create(
            track=track,
            quality=q,
            bitrate=BITRATES[q],
            format="mp3",
            size_bytes=size,
            path=relative,
        )
    return track


PLAYBACK = """query($id: ID!, $q: PlaybackQuality) { playback(trackId: $id, quality: $q) {
  __typename
  ... on Playable { trackId url quality format bitrate sizeBytes expiresAt
                    preview { startSeconds endSeconds } explanation }
  ... on PlaybackDenial { trackId code message explanation }
  ... on NotLicensedInRegion { region }
  ... on MembershipRequired { availableQualities }
  ... on TrackUnavailable { reason availableFrom availableUntil }
  ... on QualityUnavailable { requested bestAvailable }
  ... on ServiceDegraded { retryAfterSeconds } } }"""

PLAYBACKS = """query($ids: [ID!]!, $q: PlaybackQuality) { playbacks(trackIds: $ids, quality: $q) {
  __typename
  ... on Playable { trackId url quality preview { startSeconds endSeconds } }
  ... on PlaybackDenial { trackId code message }
  ... on ServiceDegraded { retryAfterSeconds } } }"""
