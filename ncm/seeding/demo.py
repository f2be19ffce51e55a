"""``ncm seed demo``: a small believable catalog whose audio is generated here, offline.

The catalog (:mod:`ncm.seeding.demo_data`) goes through the catalog importer like any
label delivery, so it is upserted by ISRC and re-running changes nothing. Each rendition is
a WAV file synthesized by :mod:`ncm.catalog.audio` under ``<media root>/demo/<track>/``;
files already there with the right size are kept.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ncm.accounts.models import User
from ncm.accounts.service import create_user
from ncm.catalog.audio import FORMATS, Style, Tune, write_wav
from ncm.catalog.models import Quality, Track
from ncm.config import get_settings
from ncm.seeding import demo_data
from ncm.seeding.demo_data import DemoTrack

MEDIA_DIR = "demo"


def track_external_id(track: DemoTrack) -> str:
    return f"demo-t-{track.id}"


def rendition_path(track: DemoTrack, quality: Quality) -> str:
    """The file's path relative to the media root."""
    return f"{MEDIA_DIR}/{track_external_id(track)}/{quality.value.lower()}.wav"


def tune_of(track: DemoTrack) -> Tune:
    """The track's music: seeded by its external id, styled by its first genre."""
    seed = zlib.crc32(track_external_id(track).encode())
    return Tune(seed=seed, duration_ms=track.seconds * 1000, style=Style(track.genres[0]))


def planned_bytes(tracks: Sequence[DemoTrack] = demo_data.TRACKS) -> int:
    """The size of every demo audio file together."""
    return sum(FORMATS[q].wav_size(t.seconds * 1000) for t in tracks for q in t.qualities)


def build_records(tracks: Sequence[DemoTrack] = demo_data.TRACKS) -> list[dict[str, Any]]:
    """Importer records (one per track) for the demo catalog."""
    artists = {a.id: a for a in demo_data.ARTISTS}
    albums = {a.id: a for a in demo_data.ALBUMS}
    records = []
    for track in tracks:
        album = albums[track.album]
        duration_ms = track.seconds * 1000
        records.append(
            {
                "isrc": track.isrc,
                "external_id": track_external_id(track),
                "title": track.title,
                "artists": [
                    {
                        "name": artists[a].name,
                        "external_id": f"demo-a-{a}",
                        "region": artists[a].region,
                    }
                    for a in track.artists
                ],
                "album": {
                    "title": album.title,
                    "external_id": f"demo-al-{album.id}",
                    "release_date": album.release_date,
                    "cover_url": None,
                    "artist_external_id": f"demo-a-{album.artist}",
                },
                "disc_number": 1,
                "track_number": track.number,
                "duration_ms": duration_ms,
                "language": track.language,
                "explicit": track.explicit,
                "fee_policy": track.fee_policy.value,
                "status": track.status.value,
                "genres": list(track.genres),
                "renditions": [
                    {
                        "quality": q.value,
                        "bitrate": FORMATS[q].bitrate_kbps,
                        "format": "wav",
                        "size_bytes": FORMATS[q].wav_size(duration_ms),
                        "path": rendition_path(track, q),
                    }
                    for q in track.qualities
                ],
                "licenses": [
                    {
                        "region": lic.region,
                        "available_from": lic.available_from,
                        "available_until": lic.available_until,
                    }
                    for lic in track.licenses
                ],
            }
        )
    return records


@dataclass(frozen=True)
class MediaReport:
    files: int
    written: int
    bytes_written: int
    total_bytes: int


async def write_media(
    media_root: Path, tracks: Sequence[DemoTrack] = demo_data.TRACKS
) -> MediaReport:
    """Write every missing audio file of these tracks; files of the right size are kept.

    Synthesis is CPU-bound (about 5 s for the whole demo) and runs in a thread so the event
    loop stays responsive. (Worker processes were measured: on two cores they did not pay.)
    """
    jobs = [
        (media_root / rendition_path(track, quality), tune_of(track), FORMATS[quality])
        for track in tracks
        for quality in track.qualities
    ]
    written = await asyncio.to_thread(lambda: [write_wav(*job) for job in jobs])
    return MediaReport(
        files=len(jobs),
        written=sum(1 for size in written if size),
        bytes_written=sum(written),
        total_bytes=planned_bytes(tracks),
    )


async def _ensure_users() -> int:
    """Create the demo users that do not exist yet (by email or handle); how many."""
    created = 0
    for user in demo_data.USERS:
        if await User.filter(email=user.email).exists():
            continue
        if await User.filter(handle=user.handle).exists():
            continue
        await create_user(
            user.email,
            user.handle,
            user.password,
            display_name=user.display_name,
            role=user.role,
        )
        created += 1
    return created


async def seed_demo(if_empty: bool = False) -> dict[str, object]:
    """Seed the demo catalog, its audio and the demo users; a report of what happened.

    With ``if_empty`` nothing happens when any track exists. Otherwise it is idempotent:
    the importer upserts by ISRC, existing users and audio files are left alone.
    """
    from ncm.catalog.importer import import_records

    media_root = get_settings().media_root
    if if_empty and await Track.all().exists():
        return _report(media_root, skipped=True)
    media = await write_media(media_root)
    imported = await import_records(enumerate(build_records(), start=1))
    if imported.rejected:  # the demo data is ours: a rejection is a bug in it
        reasons = "; ".join(f"track {r.line}: {r.reason}" for r in imported.rejected)
        raise RuntimeError(f"the importer rejected demo tracks: {reasons}")
    from ncm.search.maintenance import refresh

    await refresh()  # the popularity tiers and suggestions (docs/search.md) cover the demo
    return _report(
        media_root,
        skipped=False,
        tracks_created=imported.created,
        tracks_updated=imported.updated,
        tracks_unchanged=imported.unchanged,
        users_created=await _ensure_users(),
        audio_files=media.files,
        audio_files_written=media.written,
        bytes_written=media.bytes_written,
        media_bytes=media.total_bytes,
    )


_COUNTS = (
    "tracks_created",
    "tracks_updated",
    "tracks_unchanged",
    "users_created",
    "audio_files",
    "audio_files_written",
    "bytes_written",
    "media_bytes",
)


def _report(media_root: Path, *, skipped: bool, **counts: int) -> dict[str, object]:
    """The same keys whether it seeded or skipped (then every count is 0)."""
    sizes = {
        "artists": len(demo_data.ARTISTS),
        "albums": len(demo_data.ALBUMS),
        "tracks": len(demo_data.TRACKS),
        "genres": len(demo_data.GENRES),
        "users": len(demo_data.USERS),
    }
    return {
        "skipped": skipped,
        **{key: 0 if skipped else size for key, size in sizes.items()},
        **{key: counts.get(key, 0) for key in _COUNTS},
        "media_root": str(media_root),
    }
