"""Writing validated rows: chunks of set-based SQL, one transaction per chunk.

Accepted rows are written in chunks of ``CHUNK_SIZE`` (500), each chunk in one transaction
with set-based SQL: one lookup per table (``= ANY($1)`` arrays on PostgreSQL, ``IN (?, ...)``
on SQLite), then one ``INSERT ... RETURNING`` / ``UPDATE`` / ``DELETE`` per table, about
fifteen statements per chunk whatever its size. Columns a row leaves out get the model's
defaults. If a chunk fails in the database anyway (a concurrent import, say), it is rolled
back and retried row by row, each row in its own transaction: the good rows land, the bad
one is rejected with the database's reason, and no row is ever half-written.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from tortoise.models import Model
from tortoise.transactions import in_transaction

from ncm.catalog.importer.formats import Record, parse_file
from ncm.catalog.importer.validation import (
    TRACK_FIELDS,
    AlbumIn,
    ArtistIn,
    ArtistKey,
    LicenseIn,
    RenditionIn,
    RowRejected,
    TrackIn,
    Validator,
)
from ncm.catalog.models import (
    Album,
    Artist,
    Genre,
    License,
    Rendition,
    Track,
    TrackArtist,
    TrackGenre,
)
from ncm.kit.sql import Bulk, Row
from ncm.kit.sql.sets import batches
from ncm.kit.unset import UNSET
from ncm.search.text import document_tokens

logger = logging.getLogger(__name__)

CHUNK_SIZE = 500
MAX_CHUNK_SIZE = 5_000  # keeps every lookup list far below SQLite's variable limit


# --- results -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    reason: str


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    artists_created: int = 0
    artists_updated: int = 0
    albums_created: int = 0
    albums_updated: int = 0
    genres_created: int = 0

    @property
    def rows(self) -> int:
        return self.created + self.updated + self.unchanged + len(self.rejected)

    @property
    def ok(self) -> bool:
        return not self.rejected

    def add(self, other: ImportReport) -> None:
        """Adds another report's counts and rejections to this one."""
        for name in self.__dataclass_fields__:
            mine, theirs = getattr(self, name), getattr(other, name)
            if isinstance(mine, list):
                mine.extend(theirs)
            else:
                setattr(self, name, mine + theirs)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows"] = self.rows
        return data

    def summary(self) -> dict[str, int]:
        """The counts, for a table."""
        return {
            "rows": self.rows,
            "tracks created": self.created,
            "tracks updated": self.updated,
            "tracks unchanged": self.unchanged,
            "rows rejected": len(self.rejected),
            "artists created": self.artists_created,
            "artists updated": self.artists_updated,
            "albums created": self.albums_created,
            "albums updated": self.albums_updated,
            "genres created": self.genres_created,
        }


# --- writing -----------------------------------------------------------------------------


# Artist and album names repeat across chunks: their tokens are computed once per process.
_tokens = lru_cache(maxsize=65_536)(document_tokens)

ARTIST_COLUMNS = ("id", "name", "external_id", "region", "search_text")
ALBUM_COLUMNS = (
    "id",
    "title",
    "external_id",
    "artist_id",
    "release_date",
    "cover_url",
    "search_text",
)
TRACK_COLUMNS = ("id", *TRACK_FIELDS, "album_id", "search_text")


@dataclass(slots=True)
class LinkPlan:
    """What to (re)write under one track: its credits, genres, renditions, licenses."""

    row: TrackIn
    track: Row
    artist_ids: list[int]
    new: bool
    artists: bool = True
    genres: bool = True
    renditions: bool = True
    licenses: bool = True


class ChunkWriter:
    """Writes one chunk of validated rows with a handful of set-based statements per table.

    Run it inside a transaction. Artists, albums and tracks are plain dicts here (``id`` is
    None until inserted); inserts return their ids with RETURNING.
    """

    def __init__(self, rows: list[TrackIn], touched: Mapping[int, int], sql: Bulk) -> None:
        self.rows = rows
        self.touched = touched
        self.sql = sql
        self.out = ImportReport()
        self.written: dict[int, int] = {}  # track id -> line, for the tracks this chunk wrote
        self.artists_by_ext: dict[str, Row] = {}
        self.artists: dict[ArtistKey, Row] = {}
        self.albums: dict[tuple[str, ...], Row] = {}
        self.genres: dict[str, int] = {}
        self.renamed_artists: set[int] = set()
        self.renamed_albums: set[int] = set()

    def reject(self, row: TrackIn, reason: str) -> None:
        self.out.rejected.append(Rejection(row.line, reason))

    async def run(self) -> ImportReport:
        matches = await self._match_tracks()
        await self._check_album_artists()
        if self.rows:
            await self._write_artists()
            await self._write_albums()
            await self._write_genres()
            await self._write_tracks(matches)
            if self.renamed_artists or self.renamed_albums:
                await refresh_search_text(
                    self.renamed_artists,
                    self.renamed_albums,
                    skip_tracks=set(self.written),
                    skip_albums={a["id"] for a in self.albums.values()},
                )
        return self.out

    async def _match_tracks(self) -> dict[int, Row]:
        """Existing tracks by row line; rejects rows that match ambiguously (before writing)."""
        isrcs = [r.isrc for r in self.rows if r.isrc]
        external_ids = [r.external_id for r in self.rows if r.external_id]
        existing = await self.sql.select(
            Track, TRACK_COLUMNS, {"isrc": isrcs, "external_id": external_ids}, join="OR"
        )
        by_isrc = {t["isrc"]: t for t in existing if t["isrc"]}
        by_ext = {t["external_id"]: t for t in existing if t["external_id"]}
        matches: dict[int, Row] = {}
        claimed: dict[int, int] = {}
        kept = []
        for row in self.rows:
            by_code = by_isrc.get(row.isrc) if row.isrc else None
            by_id = by_ext.get(row.external_id) if row.external_id else None
            if by_code and by_id and by_code["id"] != by_id["id"]:
                self.reject(
                    row,
                    f"isrc {row.isrc} is track #{by_code['id']} but external_id "
                    f"{row.external_id!r} is track #{by_id['id']}",
                )
                continue
            track = by_code or by_id
            if track is not None:
                first = self.touched.get(track["id"]) or claimed.get(track["id"])
                if first is not None:
                    self.reject(row, f"matches the same track (#{track['id']}) as line {first}")
                    continue
                claimed[track["id"]] = row.line
                matches[row.line] = track
            kept.append(row)
        self.rows = kept
        return matches

    async def _check_album_artists(self) -> None:
        """Loads artists by external_id; rejects rows whose album artist is nowhere."""
        wanted: set[str] = set()
        for row in self.rows:
            wanted.update(a.external_id for a in row.artists if a.external_id)
            if isinstance(row.album, AlbumIn):
                if isinstance(row.album.artist, str):
                    wanted.add(row.album.artist)
                elif row.album.artist.external_id:
                    wanted.add(row.album.artist.external_id)
        found = await self.sql.select(Artist, ARTIST_COLUMNS, {"external_id": sorted(wanted)})
        self.artists_by_ext = {a["external_id"]: a for a in found}
        kept = []
        for row in self.rows:
            album = row.album
            if (
                isinstance(album, AlbumIn)
                and isinstance(album.artist, str)
                and album.artist not in self.artists_by_ext
            ):
                self.reject(
                    row,
                    f"album artist_external_id {album.artist!r} is none of the track's "
                    "artists, no artist earlier in the file and no artist in the catalog",
                )
                continue
            kept.append(row)
        self.rows = kept

    def _artist_specs(self) -> list[ArtistIn]:
        specs: dict[ArtistKey, ArtistIn] = {}
        for row in self.rows:
            for artist in row.artists:
                specs.setdefault(artist.key, artist)
            if isinstance(row.album, AlbumIn) and isinstance(row.album.artist, ArtistIn):
                specs.setdefault(row.album.artist.key, row.album.artist)
        return list(specs.values())

    async def _write_artists(self) -> None:
        specs = self._artist_specs()
        by_ext = self.artists_by_ext
        names = {s.name for s in specs if not s.external_id or s.external_id not in by_ext}
        by_name: dict[str, list[Row]] = defaultdict(list)
        found = await self.sql.select(Artist, ARTIST_COLUMNS, {"name": sorted(names)})
        for candidate in sorted(found, key=lambda a: a["id"]):
            by_name[candidate["name"]].append(candidate)
        new: list[Row] = []
        dirty: dict[int, Row] = {}
        for spec in specs:
            artist: Row | None = None
            if spec.external_id:
                artist = by_ext.get(spec.external_id)
                if artist is None:
                    # Not known by this id: take over a same-named artist that has no id yet.
                    unclaimed = [a for a in by_name[spec.name] if a["external_id"] is None]
                    if unclaimed:
                        artist = unclaimed[0]
                        artist["external_id"] = spec.external_id
                        by_ext[spec.external_id] = artist
                        if artist["id"] is not None:
                            dirty[artist["id"]] = artist
            elif by_name[spec.name]:
                artist = by_name[spec.name][0]
            if artist is None:
                artist = {
                    "id": None,
                    "name": spec.name,
                    "external_id": spec.external_id,
                    "region": spec.region,
                    "search_text": _tokens(spec.name),
                }
                new.append(artist)
                by_name[spec.name].append(artist)
                if spec.external_id:
                    by_ext[spec.external_id] = artist
            elif artist["id"] is not None:
                changed = False
                if spec.external_id and artist["name"] != spec.name:
                    if artist in by_name[artist["name"]]:
                        by_name[artist["name"]].remove(artist)
                    artist["name"] = spec.name
                    by_name[spec.name].append(artist)
                    self.renamed_artists.add(artist["id"])
                    changed = True
                if spec.region and artist["region"] != spec.region:
                    artist["region"] = spec.region
                    changed = True
                search_text = _tokens(artist["name"])
                if artist["search_text"] != search_text:
                    artist["search_text"] = search_text
                    changed = True
                if changed:
                    dirty[artist["id"]] = artist
            self.artists[spec.key] = artist
        if dirty:
            await self.sql.update(Artist, list(dirty.values()), ARTIST_COLUMNS[1:])
            self.out.artists_updated += len(dirty)
        if new:
            inserted = await self.sql.insert(Artist, new, returning=("id", "external_id", "name"))
            # A new artist is the only one with its external_id, or without one by its name.
            ids = {r["external_id"] or ("name", r["name"]): r["id"] for r in inserted}
            for made in new:
                made["id"] = ids[made["external_id"] or ("name", made["name"])]
            self.out.artists_created += len(new)

    def _album_artist(self, album: AlbumIn) -> Row:
        if isinstance(album.artist, str):
            return self.artists_by_ext[album.artist]
        return self.artists[album.artist.key]

    async def _write_albums(self) -> None:
        specs: dict[tuple[str, ...], AlbumIn] = {}
        for row in self.rows:
            if isinstance(row.album, AlbumIn):
                specs.setdefault(row.album.key, row.album)
        if not specs:
            return
        exts = [s.external_id for s in specs.values() if s.external_id]
        found = await self.sql.select(Album, ALBUM_COLUMNS, {"external_id": exts})
        by_ext: dict[str, Row] = {a["external_id"]: a for a in found}
        titles = sorted(
            {s.title for s in specs.values() if not s.external_id or s.external_id not in by_ext}
        )
        artist_ids = sorted({self._album_artist(s)["id"] for s in specs.values()})
        by_pair: dict[tuple[str, int], list[Row]] = defaultdict(list)
        if titles:
            found = await self.sql.select(
                Album, ALBUM_COLUMNS, {"title": titles, "artist_id": artist_ids}
            )
            for candidate in sorted(found, key=lambda a: a["id"]):
                by_pair[(candidate["title"], candidate["artist_id"])].append(candidate)
        new: list[Row] = []
        dirty: dict[int, Row] = {}
        for key, spec in specs.items():
            artist = self._album_artist(spec)
            pair = (spec.title, artist["id"])
            album: Row | None = None
            changed = False
            if spec.external_id and spec.external_id in by_ext:
                album = by_ext[spec.external_id]
                if album["title"] != spec.title:
                    album["title"] = spec.title
                    self.renamed_albums.add(album["id"])
                    changed = True
                if album["artist_id"] != artist["id"]:
                    album["artist_id"] = artist["id"]
                    changed = True
            elif spec.external_id:
                unclaimed = [a for a in by_pair[pair] if a["external_id"] is None]
                if unclaimed:
                    album = unclaimed[0]
                    album["external_id"] = spec.external_id
                    by_ext[spec.external_id] = album
                    changed = album["id"] is not None
            elif by_pair[pair]:
                album = by_pair[pair][0]
            if album is None:
                album = {
                    "id": None,
                    "title": spec.title,
                    "external_id": spec.external_id,
                    "artist_id": artist["id"],
                    "release_date": None if spec.release_date is UNSET else spec.release_date,
                    "cover_url": None if spec.cover_url is UNSET else spec.cover_url,
                    "search_text": _tokens(spec.title, artist["name"]),
                }
                new.append(album)
                by_pair[pair].append(album)
                if spec.external_id:
                    by_ext[spec.external_id] = album
            elif album["id"] is not None:
                if spec.release_date is not UNSET and album["release_date"] != spec.release_date:
                    album["release_date"] = spec.release_date
                    changed = True
                if spec.cover_url is not UNSET and album["cover_url"] != spec.cover_url:
                    album["cover_url"] = spec.cover_url
                    changed = True
                search_text = _tokens(album["title"], artist["name"])
                if album["search_text"] != search_text:
                    album["search_text"] = search_text
                    changed = True
                if changed:
                    dirty[album["id"]] = album
            self.albums[key] = album
        if dirty:
            await self.sql.update(Album, list(dirty.values()), ALBUM_COLUMNS[1:])
            self.out.albums_updated += len(dirty)
        if new:
            inserted = await self.sql.insert(
                Album, new, returning=("id", "external_id", "title", "artist_id")
            )
            ids = {r["external_id"] or (r["title"], r["artist_id"]): r["id"] for r in inserted}
            for album in new:
                album["id"] = ids[album["external_id"] or (album["title"], album["artist_id"])]
            self.out.albums_created += len(new)

    async def _write_genres(self) -> None:
        slugs = sorted({slug for row in self.rows for slug in row.genres or ()})
        found = await self.sql.select(Genre, ("id", "slug"), {"slug": slugs})
        self.genres = {g["slug"]: g["id"] for g in found}
        missing = [s for s in slugs if s not in self.genres]
        if missing:
            rows = [{"slug": s, "name": s.title()} for s in missing]
            inserted = await self.sql.insert(Genre, rows, returning=("id", "slug"))
            self.genres.update({g["slug"]: g["id"] for g in inserted})
            self.out.genres_created += len(missing)

    async def _write_tracks(self, matches: dict[int, Row]) -> None:
        existing_ids = [t["id"] for t in matches.values()]
        current_artists: dict[int, list[int]] = defaultdict(list)
        current_genres: dict[int, set[int]] = defaultdict(set)
        current_renditions: dict[int, set[tuple[Any, ...]]] = defaultdict(set)
        current_licenses: dict[int, set[tuple[Any, ...]]] = defaultdict(set)
        album_titles: dict[int, str] = {}
        if existing_ids:
            links = await self.sql.select(
                TrackArtist, ("track_id", "artist_id", "position", "id"), {"track_id": existing_ids}
            )
            for link in sorted(links, key=lambda r: (r["track_id"], r["position"], r["id"])):
                current_artists[link["track_id"]].append(link["artist_id"])
            if any(r.genres is not None for r in self.rows):
                for link in await self.sql.select(
                    TrackGenre, ("track_id", "genre_id"), {"track_id": existing_ids}
                ):
                    current_genres[link["track_id"]].add(link["genre_id"])
            if any(r.renditions is not None for r in self.rows):
                kinds: tuple[str, ...] = RenditionIn._fields
                for r in await self.sql.select(
                    Rendition, ("track_id", *kinds), {"track_id": existing_ids}
                ):
                    current_renditions[r["track_id"]].add(tuple(r[c] for c in kinds))
            if any(r.licenses is not None for r in self.rows):
                kinds = LicenseIn._fields
                for r in await self.sql.select(
                    License, ("track_id", *kinds), {"track_id": existing_ids}
                ):
                    current_licenses[r["track_id"]].add(tuple(r[c] for c in kinds))
            kept_albums = {
                t["album_id"]
                for row in self.rows
                if row.album is UNSET
                and (t := matches.get(row.line)) is not None
                and t["album_id"] is not None
            }
            found = await self.sql.select(Album, ("id", "title"), {"id": sorted(kept_albums)})
            album_titles = {a["id"]: a["title"] for a in found}

        now = datetime.now(UTC)
        new_tracks: list[tuple[TrackIn, Row, list[int]]] = []
        updated: list[Row] = []
        update_columns: set[str] = set()
        plans: list[LinkPlan] = []
        for row in self.rows:
            track = matches.get(row.line)
            artists = list(
                {self.artists[a.key]["id"]: self.artists[a.key] for a in row.artists}.values()
            )
            target = dict(row.fields)
            album_title: str | None = None
            if isinstance(row.album, AlbumIn):
                album = self.albums[row.album.key]
                target["album_id"] = album["id"]
                album_title = album["title"]
            elif row.album is None:
                target["album_id"] = None
            elif track is not None and track["album_id"] is not None:
                album_title = album_titles.get(track["album_id"])
            target["search_text"] = document_tokens(
                target["title"], *(a["name"] for a in artists), album_title
            )
            artist_ids = [a["id"] for a in artists]
            if track is None:
                new_tracks.append((row, target, artist_ids))
                continue
            changed = [k for k, v in target.items() if track[k] != v]
            track.update((k, target[k]) for k in changed)
            relink_artists = current_artists[track["id"]] != artist_ids
            relink_genres = row.genres is not None and current_genres[track["id"]] != {
                self.genres[s] for s in row.genres
            }
            redo_renditions = row.renditions is not None and current_renditions[track["id"]] != set(
                row.renditions
            )
            redo_licenses = row.licenses is not None and current_licenses[track["id"]] != set(
                row.licenses
            )
            self.written[track["id"]] = row.line
            if changed or relink_artists or relink_genres or redo_renditions or redo_licenses:
                track["updated_at"] = now
                updated.append(track)
                update_columns.update(changed)
                self.out.updated += 1
                plans.append(
                    LinkPlan(
                        row,
                        track,
                        artist_ids,
                        new=False,
                        artists=relink_artists,
                        genres=relink_genres,
                        renditions=redo_renditions,
                        licenses=redo_licenses,
                    )
                )
            else:
                self.out.unchanged += 1

        if new_tracks:
            inserted = await self.sql.insert(
                Track, [t for _, t, _ in new_tracks], returning=("id", "isrc", "external_id")
            )
            by_isrc = {r["isrc"]: r["id"] for r in inserted if r["isrc"]}
            by_ext = {r["external_id"]: r["id"] for r in inserted if not r["isrc"]}
            for row, track, artist_ids in new_tracks:
                track["id"] = (
                    by_isrc[track["isrc"]] if track.get("isrc") else by_ext[track["external_id"]]
                )
                self.written[track["id"]] = row.line
                plans.append(LinkPlan(row, track, artist_ids, new=True))
            self.out.created += len(new_tracks)
        if updated:
            await self.sql.update(Track, updated, sorted(update_columns | {"updated_at"}))
        await self._write_links(plans)

    async def _write_links(self, plans: list[LinkPlan]) -> None:
        """Replaces the links that changed; a new track has none to delete."""
        artist_links: list[Row] = []
        genre_links: list[Row] = []
        renditions: list[Row] = []
        licenses: list[Row] = []
        clear: dict[type[Model], list[int]] = defaultdict(list)
        for plan in plans:
            row, track_id = plan.row, plan.track["id"]
            if plan.artists:
                if not plan.new:
                    clear[TrackArtist].append(track_id)
                artist_links.extend(
                    {"track_id": track_id, "artist_id": artist_id, "position": position}
                    for position, artist_id in enumerate(plan.artist_ids)
                )
            if plan.genres and row.genres is not None:
                if not plan.new:
                    clear[TrackGenre].append(track_id)
                genre_links.extend(
                    {"track_id": track_id, "genre_id": self.genres[slug]} for slug in row.genres
                )
            if plan.renditions and row.renditions is not None:
                if not plan.new:
                    clear[Rendition].append(track_id)
                renditions.extend({"track_id": track_id, **r._asdict()} for r in row.renditions)
            if plan.licenses and row.licenses is not None:
                if not plan.new:
                    clear[License].append(track_id)
                licenses.extend({"track_id": track_id, **lic._asdict()} for lic in row.licenses)
        for model, track_ids in clear.items():
            await self.sql.delete(model, "track_id", track_ids)
        await self.sql.insert(TrackArtist, artist_links)
        await self.sql.insert(TrackGenre, genre_links)
        await self.sql.insert(Rendition, renditions)
        await self.sql.insert(License, licenses)


async def refresh_search_text(
    artist_ids: Iterable[int],
    album_ids: Iterable[int],
    *,
    skip_tracks: set[int] | None = None,
    skip_albums: set[int] | None = None,
) -> int:
    """Recompute ``search_text`` of the albums and tracks that show these artists' names or
    these albums' titles (after a rename). Returns the number of rows rewritten."""
    from ncm.catalog.service import albums_by_ids, artists_of_tracks

    artist_ids, album_ids = sorted(set(artist_ids)), sorted(set(album_ids))
    skip_tracks, skip_albums = skip_tracks or set(), skip_albums or set()
    rewritten = 0
    if artist_ids:
        albums = await Album.filter(artist_id__in=artist_ids).select_related("artist")
        stale = []
        for album in albums:
            text = document_tokens(album.title, album.artist.name)
            if album.id not in skip_albums and album.search_text != text:
                album.search_text = text
                stale.append(album)
        if stale:
            await Album.bulk_update(stale, fields=["search_text"], batch_size=100)
            rewritten += len(stale)
    track_ids: set[int] = set()
    if artist_ids:
        linked = await TrackArtist.filter(artist_id__in=artist_ids).values_list("track_id")
        track_ids.update(row[0] for row in linked)
    if album_ids:
        on_albums = await Track.filter(album_id__in=album_ids).values_list("id")
        track_ids.update(row[0] for row in on_albums)
    for batch in batches(sorted(track_ids - skip_tracks), CHUNK_SIZE):
        tracks = await Track.filter(id__in=list(batch))
        names = await artists_of_tracks(batch)
        albums_of = await albums_by_ids([t.album_id for t in tracks if t.album_id is not None])
        stale_tracks = []
        for track in tracks:
            on = albums_of.get(track.album_id) if track.album_id is not None else None
            text = document_tokens(
                track.title,
                *(a.name for a in names.get(track.id, [])),
                on.title if on else None,
            )
            if track.search_text != text:
                track.search_text = text
                stale_tracks.append(track)
        if stale_tracks:
            await Track.bulk_update(stale_tracks, fields=["search_text"], batch_size=100)
            rewritten += len(stale_tracks)
    return rewritten


async def _write(rows: list[TrackIn], report: ImportReport, touched: dict[int, int]) -> None:
    """One transaction for the chunk; if the database refuses it, one per row."""
    try:
        async with in_transaction() as conn:
            writer = ChunkWriter(rows, touched, Bulk(conn))
            outcome = await writer.run()
    except Exception as exc:
        if len(rows) == 1:
            logger.warning("import: line %d not written: %s", rows[0].line, exc)
            report.rejected.append(Rejection(rows[0].line, f"could not be written: {exc}"))
            return
        logger.warning(
            "import: chunk of lines %d-%d failed (%s); retrying row by row",
            rows[0].line,
            rows[-1].line,
            exc,
        )
        for row in rows:
            await _write([row], report, touched)
        return
    report.add(outcome)
    touched.update(writer.written)


async def import_records(
    records: Iterable[Record],
    *,
    progress: Callable[[int], None] | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> ImportReport:
    """Validate and upsert the records; ``progress(n)`` is told how many were handled so far."""
    chunk_size = max(1, min(chunk_size, MAX_CHUNK_SIZE))
    report = ImportReport()
    validator = Validator()
    touched: dict[int, int] = {}
    pending: list[TrackIn] = []
    handled = reported = 0
    for line, raw in records:
        handled += 1
        try:
            pending.append(validator.validate(line, raw))
        except RowRejected as exc:
            report.rejected.append(Rejection(line, exc.reason))
        if len(pending) >= chunk_size:
            await _write(pending, report, touched)
            pending = []
        if progress is not None and handled - reported >= chunk_size:
            progress(handled)
            reported = handled
    if pending:
        await _write(pending, report, touched)
    if progress is not None:
        progress(handled)
    report.rejected.sort(key=lambda r: r.line)
    return report


async def import_file(
    path: str | Path, progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Import a JSON Lines or CSV file (see the module docstring for the format)."""
    return await import_records(parse_file(path), progress=progress)
