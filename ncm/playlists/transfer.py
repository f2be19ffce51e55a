"""Playlists to and from files: JSON and M3U (``ncm playlists export|import``).

Export JSON::

    {"title": ..., "description": ..., "tags": [...], "privacy": "PUBLIC", "owner": "handle",
     "entries": [{"isrc": ..., "title": ..., "artists": ["..."], "album": ..., "duration_ms": ...}]}

Export M3U (extended)::

    #EXTM3U
    #PLAYLIST:My mix
    #EXTINF:269,Artist A, Artist B - Title
    urn:isrc:CNA0K2300001        (or ncm:track:<id> for a track without an ISRC)

Import reads either form (M3U lines may also be plain paths with an #EXTINF before them) and
matches each entry by ISRC, else by title and main artist (case-insensitive); lines that match
nothing are reported with their line numbers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ncm.accounts.models import User
from ncm.catalog import service as catalog
from ncm.catalog.models import Track
from ncm.errors import InvalidInput
from ncm.playlists import entries as entries_service
from ncm.playlists import service as playlists
from ncm.playlists.models import Playlist, PlaylistEntry, Privacy

_EXTINF = re.compile(r"^#EXTINF:(-?\d+)(?:[^,]*),(.*)$")


@dataclass
class Wanted:
    line: int
    isrc: str | None = None
    title: str | None = None
    artist: str | None = None
    track_id: int | None = None


@dataclass
class ImportReport:
    playlist_id: int | None = None
    matched: int = 0
    unmatched: list[tuple[int, str]] = field(default_factory=list)
    skipped_duplicates: int = 0


async def export_playlist(playlist: Playlist) -> dict[str, Any]:
    rows = await PlaylistEntry.filter(playlist_id=playlist.id).order_by("sort_key")
    track_ids = [r.track_id for r in rows]
    tracks = await catalog.tracks_by_ids(track_ids)
    artists = await catalog.artists_of_tracks(track_ids)
    albums = await catalog.albums_by_ids(
        [t.album_id for t in tracks.values() if t.album_id is not None]
    )
    owner = await User.get(id=playlist.owner_id)
    out = []
    for r in rows:
        t = tracks[r.track_id]
        album = albums.get(t.album_id) if t.album_id else None
        out.append(
            {
                "track_id": t.id,
                "isrc": t.isrc,
                "title": t.title,
                "artists": [a.name for a in artists.get(t.id, [])],
                "album": album.title if album else None,
                "duration_ms": t.duration_ms,
                "added_at": r.added_at.isoformat(),
            }
        )
    return {
        "title": playlist.title,
        "description": playlist.description,
        "tags": playlist.tags,
        "privacy": playlist.privacy.value,
        "owner": owner.handle,
        "entries": out,
    }


def to_m3u(exported: dict[str, Any]) -> str:
    lines = ["#EXTM3U", f"#PLAYLIST:{exported['title']}"]
    for e in exported["entries"]:
        artists = ", ".join(e["artists"])
        lines.append(f"#EXTINF:{e['duration_ms'] // 1000},{artists} - {e['title']}")
        lines.append(f"urn:isrc:{e['isrc']}" if e["isrc"] else f"ncm:track:{e['track_id']}")
    return "\n".join(lines) + "\n"


def parse_file(path: Path) -> tuple[dict[str, Any], list[Wanted]]:
    """The playlist's fields and the wanted entries, from a JSON or M3U file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Cannot read {path}: {exc}", field="file") from exc
    if path.suffix.lower() == ".json":
        return _parse_json(text)
    if path.suffix.lower() in (".m3u", ".m3u8"):
        return _parse_m3u(text, path.stem)
    raise InvalidInput("The file must be .json, .m3u or .m3u8.", field="file")


def _parse_json(text: str) -> tuple[dict[str, Any], list[Wanted]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"Not valid JSON: {exc}", field="file") from exc
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise InvalidInput("Expected an object with an `entries` list.", field="file")
    wanted = []
    for i, e in enumerate(data["entries"], start=1):
        if not isinstance(e, dict):
            wanted.append(Wanted(line=i))
            continue
        artists = e.get("artists") or []
        wanted.append(
            Wanted(
                line=i,
                isrc=e.get("isrc"),
                title=e.get("title"),
                artist=artists[0] if artists and isinstance(artists[0], str) else None,
            )
        )
    meta = {k: data.get(k) for k in ("title", "description", "tags", "privacy")}
    return meta, wanted


def _parse_m3u(text: str, default_title: str) -> tuple[dict[str, Any], list[Wanted]]:
    meta: dict[str, Any] = {"title": default_title}
    wanted: list[Wanted] = []
    pending: tuple[str | None, str | None] = (None, None)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#PLAYLIST:"):
            meta["title"] = line.removeprefix("#PLAYLIST:").strip() or default_title
        elif m := _EXTINF.match(line):
            artist, sep, title = m.group(2).partition(" - ")
            pending = (artist.split(",")[0].strip(), title.strip()) if sep else (None, artist)
        elif line.startswith("#"):
            continue
        else:
            item = Wanted(line=number, artist=pending[0], title=pending[1])
            if line.lower().startswith("urn:isrc:"):
                item.isrc = line[9:].strip()
            elif line.startswith("ncm:track:") and line[10:].isdigit():
                item.track_id = int(line[10:])
            pending = (None, None)
            wanted.append(item)
    return meta, wanted


async def _match(items: list[Wanted]) -> dict[int, int]:
    """Line number → track id, by id, ISRC (one query), then title and main artist."""
    found: dict[int, int] = {}
    isrcs = {w.isrc.replace("-", "").upper() for w in items if w.isrc}
    by_isrc = {t.isrc: t.id for t in await Track.filter(isrc__in=list(isrcs))} if isrcs else {}
    ids = {w.track_id for w in items if w.track_id}
    existing = set((await catalog.tracks_by_ids(list(ids))).keys()) if ids else set()
    for w in items:
        if w.track_id in existing:
            found[w.line] = w.track_id
        elif w.isrc and w.isrc.replace("-", "").upper() in by_isrc:
            found[w.line] = by_isrc[w.isrc.replace("-", "").upper()]
        elif w.title:
            query = Track.filter(title__iexact=w.title)
            if w.artist:
                query = query.filter(artist_links__artist__name__iexact=w.artist)
            track = await query.order_by("-play_count", "id").first()
            if track is not None:
                found[w.line] = track.id
    return found


async def import_playlist(path: Path, owner: User, *, title: str | None = None) -> ImportReport:
    meta, items = parse_file(path)
    if len(items) > entries_service.MAX_ENTRIES:
        raise InvalidInput(
            f"A playlist holds at most {entries_service.MAX_ENTRIES} tracks.", field="file"
        )
    matched = await _match(items)
    report = ImportReport(
        unmatched=[(w.line, w.title or w.isrc or "?") for w in items if w.line not in matched]
    )
    if not matched:  # a retry must not leave one more empty playlist each time
        example = f" (line {report.unmatched[0][0]}: {report.unmatched[0][1]!r})" if items else ""
        raise InvalidInput(
            f"None of the {len(items)} entries matches a track of the catalog{example};"
            " no playlist was created.",
            field="file",
        )
    privacy = meta.get("privacy")
    playlist = await playlists.create_playlist(
        owner,
        title=title or meta.get("title") or path.stem,
        description=meta.get("description") if isinstance(meta.get("description"), str) else None,
        tags=[t for t in meta.get("tags") or [] if isinstance(t, str)],
        privacy=Privacy(privacy) if privacy in ("PUBLIC", "PRIVATE") else Privacy.PUBLIC,
    )
    report.playlist_id = playlist.id
    track_ids = [matched[w.line] for w in items if w.line in matched]
    if track_ids:
        result = await entries_service.replace_entries(owner, playlist.id, track_ids)
        report.matched = len(result.added)
        report.skipped_duplicates = len(result.skipped_track_ids)
    return report
