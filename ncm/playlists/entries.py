"""A playlist's entries: add, remove, move a range, replace, and read them in pages.

Every edit runs in one transaction holding the playlist row's lock (``SELECT ... FOR
UPDATE`` on PostgreSQL; SQLite has one writer), so concurrent edits queue instead of
losing each other, positions never collide (``UNIQUE (playlist_id, sort_key)``) and
``entry_count`` stays exact. An edit may pass ``expected_version``: if the playlist changed
since, it fails with ``PlaylistVersionConflict`` and changes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from ncm.accounts.models import User
from ncm.catalog.models import Track
from ncm.errors import InvalidInput, NoSuch, NotFound
from ncm.kit.db import column, is_postgres, placeholder
from ncm.kit.pagination import Page, decode_cursor, encode_cursor, page_size
from ncm.kit.sql import first_of_each
from ncm.playlists import access
from ncm.playlists.errors import PlaylistFull, PlaylistVersionConflict
from ncm.playlists.models import Playlist, PlaylistEntry
from ncm.playlists.ordering import keys_between

MAX_ENTRIES = 10_000
MAX_TRACKS_PER_CALL = MAX_ENTRIES


@dataclass(frozen=True)
class Locked:
    playlist: Playlist
    conn: BaseDBAsyncClient


@dataclass(frozen=True)
class AddResult:
    playlist: Playlist
    added: list[PlaylistEntry]
    skipped_track_ids: list[int]
    start_index: int = 0  # the position of the first added entry


@dataclass(frozen=True)
class EntryRow:
    entry: PlaylistEntry
    index: int


@asynccontextmanager
async def locked(playlist_id: int, expected_version: int | None = None) -> AsyncIterator[Locked]:
    """A transaction holding the playlist's row lock; bumps its version on success."""
    async with in_transaction() as conn:
        playlist = (
            await Playlist.filter(id=playlist_id, deleted_at__isnull=True)
            .select_for_update()
            .using_db(conn)
            .first()
        )
        if playlist is None:
            raise access.not_found()
        if expected_version is not None and expected_version != playlist.version:
            raise PlaylistVersionConflict(playlist.version)
        yield Locked(playlist, conn)


async def _bump(lock: Locked, entry_delta: int) -> None:
    playlist = lock.playlist
    playlist.version += 1
    playlist.entry_count += entry_delta
    playlist.updated_at = datetime.now(UTC)
    await (
        Playlist.filter(id=playlist.id)
        .using_db(lock.conn)
        .update(
            version=F("version") + 1,
            entry_count=F("entry_count") + entry_delta,
            updated_at=playlist.updated_at,
        )
    )


async def _keys_at(lock: Locked, index: int, count: int) -> list[int]:
    """The sort keys of the entries at positions ``index .. index+count-1``."""
    if count <= 0 or index < 0:
        return []
    rows = await column(
        PlaylistEntry.filter(playlist_id=lock.playlist.id)
        .using_db(lock.conn)
        .order_by("sort_key")
        .offset(index)
        .limit(count),
        "sort_key",
    )
    return [int(k) for k in rows]


async def _edge_key(lock: Locked, last: bool) -> int | None:
    """The first or last key: one index seek, where an OFFSET would read the whole list."""
    keys = await column(
        PlaylistEntry.filter(playlist_id=lock.playlist.id)
        .using_db(lock.conn)
        .order_by("-sort_key" if last else "sort_key")
        .limit(1),
        "sort_key",
    )
    return int(keys[0]) if keys else None


async def _neighbours(lock: Locked, before_index: int) -> tuple[int | None, int | None]:
    """Keys of the entries just before and at ``before_index`` (``None`` past either end)."""
    if before_index >= lock.playlist.entry_count:  # appending: the common case
        return await _edge_key(lock, last=True), None
    if before_index == 0:
        return None, await _edge_key(lock, last=False)
    keys = await _keys_at(lock, before_index - 1, 2)
    return (keys[0] if keys else None), (keys[1] if len(keys) > 1 else None)


async def _renumber(lock: Locked) -> None:
    """Respace every key by GAP, keeping the order (two UPDATEs so keys never collide)."""
    from ncm.playlists.ordering import GAP

    p = placeholder(1)
    pid = lock.playlist.id
    await lock.conn.execute_query(
        "UPDATE playlist_entries SET sort_key = -r.rn FROM (SELECT id, ROW_NUMBER() OVER "
        f"(ORDER BY sort_key) AS rn FROM playlist_entries WHERE playlist_id = {p}) r "
        "WHERE playlist_entries.id = r.id",
        [pid],
    )
    await lock.conn.execute_query(
        f"UPDATE playlist_entries SET sort_key = -sort_key * {GAP} WHERE playlist_id = {p}",
        [pid],
    )


async def _fresh_keys(lock: Locked, before_index: int, n: int) -> list[int]:
    before, after = await _neighbours(lock, before_index)
    keys = keys_between(before, after, n)
    if keys is None:
        await _renumber(lock)
        before, after = await _neighbours(lock, before_index)
        keys = keys_between(before, after, n)
        assert keys is not None, "a renumbered list always has room"
    return keys


async def _existing_tracks(track_ids: Sequence[int]) -> set[int]:
    return set(await column(Track.filter(id__in=list(set(track_ids))), "id"))


def _check_ids(track_ids: Sequence[int]) -> None:
    if len(track_ids) > MAX_TRACKS_PER_CALL:
        raise InvalidInput(f"At most {MAX_TRACKS_PER_CALL} tracks per call.", field="trackIds")


async def _require_tracks(track_ids: Sequence[int]) -> None:
    missing = set(track_ids) - await _existing_tracks(track_ids)
    if missing:
        raise NoSuch("Track", missing, field="trackIds", noun="track(s)")


async def _insert(
    lock: Locked, track_ids: Sequence[int], keys: Sequence[int], added_by: int | None
) -> list[PlaylistEntry]:
    rows = [
        PlaylistEntry(playlist_id=lock.playlist.id, track_id=t, sort_key=k, added_by_id=added_by)
        for t, k in zip(track_ids, keys, strict=True)
    ]
    if rows:
        await PlaylistEntry.bulk_create(rows, using_db=lock.conn)
    if rows and any(r.id is None for r in rows):
        # SQLite returns no ids from bulk inserts: read them back by their unique keys.
        ids = dict(
            await PlaylistEntry.filter(playlist_id=lock.playlist.id, sort_key__in=list(keys))
            .using_db(lock.conn)
            .values_list("sort_key", "id")
        )
        for row in rows:
            row.id = ids[row.sort_key]
    return rows


async def add_locked(
    lock: Locked, actor_id: int | None, track_ids: Sequence[int], position: int | None
) -> AddResult:
    """Add under a lock the caller holds (liked songs use it with their own position)."""
    added, skipped, index = await _add(
        lock, actor_id, track_ids, position, lock.playlist.entry_count
    )
    if added:
        await _bump(lock, len(added))
    return AddResult(lock.playlist, added, skipped, index)


async def _add(
    lock: Locked,
    actor_id: int | None,
    track_ids: Sequence[int],
    position: int | None,
    current_count: int,
) -> tuple[list[PlaylistEntry], list[int], int]:
    """Insert (without bumping the version): the new entries, the skipped ids, the index."""
    playlist = lock.playlist
    skipped: list[int] = []
    wanted = list(track_ids)
    if not playlist.allow_duplicates:
        present = set(
            await column(
                PlaylistEntry.filter(
                    playlist_id=playlist.id, track_id__in=list(set(wanted))
                ).using_db(lock.conn),
                "track_id",
            )
        )
        seen: set[int] = set()
        kept = []
        for t in wanted:
            if t in present or t in seen:
                skipped.append(t)
            else:
                seen.add(t)
                kept.append(t)
        wanted = kept
    if current_count + len(wanted) > MAX_ENTRIES:
        raise PlaylistFull(MAX_ENTRIES, current_count)
    index = current_count if position is None else min(position, current_count)
    if not wanted:
        return [], skipped, index
    keys = await _fresh_keys(lock, index, len(wanted))
    return await _insert(lock, wanted, keys, actor_id), skipped, index


async def add_tracks(
    actor: User | None,
    playlist_id: int,
    track_ids: Sequence[int],
    *,
    position: int | None = None,
    expected_version: int | None = None,
) -> AddResult:
    """Add tracks at ``position`` (0 is the top) or at the end. Without duplicates allowed,
    tracks already there are skipped and reported."""
    if not track_ids:
        raise InvalidInput("Give at least one track.", field="trackIds")
    _check_ids(track_ids)
    if position is not None and position < 0:
        raise InvalidInput("The position must be 0 or more.", field="position")
    playlist = await Playlist.get_or_none(id=playlist_id)
    if playlist is None:
        raise access.not_found()
    user = await access.require_entry_editor(playlist, actor)
    await _require_tracks(track_ids)
    async with locked(playlist_id, expected_version) as lock:
        return await add_locked(lock, user.id, track_ids, position)


async def remove_entries(
    actor: User | None,
    playlist_id: int,
    entry_ids: Sequence[int],
    *,
    expected_version: int | None = None,
) -> Playlist:
    """Remove entries by id; if any is not in the playlist nothing is removed."""
    if not entry_ids:
        raise InvalidInput("Give at least one entry.", field="entryIds")
    _check_ids(entry_ids)
    playlist = await Playlist.get_or_none(id=playlist_id)
    if playlist is None:
        raise access.not_found()
    await access.require_entry_editor(playlist, actor)
    wanted = set(entry_ids)
    async with locked(playlist_id, expected_version) as lock:
        deleted = (
            await PlaylistEntry.filter(playlist_id=playlist_id, id__in=list(wanted))
            .using_db(lock.conn)
            .delete()
        )
        if deleted != len(wanted):
            raise NotFound("Some entries are not in this playlist.", field="entryIds")
        await _bump(lock, -deleted)
        return lock.playlist


async def move_entries(
    actor: User | None,
    playlist_id: int,
    *,
    range_start: int,
    insert_before: int,
    range_length: int = 1,
    expected_version: int | None = None,
) -> Playlist:
    """Move ``range_length`` entries from ``range_start`` to before ``insert_before``
    (positions as they are before the move; ``insert_before`` = the count moves to the end)."""
    playlist = await Playlist.get_or_none(id=playlist_id)
    if playlist is None:
        raise access.not_found()
    await access.require_entry_editor(playlist, actor)
    async with locked(playlist_id, expected_version) as lock:
        count = lock.playlist.entry_count
        if range_length < 1 or range_start < 0 or range_start + range_length > count:
            raise InvalidInput(
                f"The range must lie within the playlist's {count} entries.", field="rangeStart"
            )
        if insert_before < 0 or insert_before > count:
            raise InvalidInput(f"insertBefore must be 0 to {count}.", field="insertBefore")
        if range_start <= insert_before <= range_start + range_length:
            return lock.playlist  # moving a range into itself changes nothing
        moving = await column(
            PlaylistEntry.filter(playlist_id=playlist_id)
            .using_db(lock.conn)
            .order_by("sort_key")
            .offset(range_start)
            .limit(range_length),
            "id",
        )
        keys = await _fresh_keys(lock, insert_before, len(moving))
        await _set_keys(lock, list(zip(moving, keys, strict=True)))
        await _bump(lock, 0)
        return lock.playlist


async def _set_keys(lock: Locked, pairs: list[tuple[int, int]]) -> None:
    if not pairs:
        return
    if is_postgres():
        await lock.conn.execute_query(
            "UPDATE playlist_entries AS e SET sort_key = v.k FROM "
            "(SELECT unnest($1::bigint[]) AS id, unnest($2::bigint[]) AS k) v WHERE e.id = v.id",
            [[p[0] for p in pairs], [p[1] for p in pairs]],
        )
    else:
        await lock.conn.execute_many(
            "UPDATE playlist_entries SET sort_key = ? WHERE id = ?", [[k, i] for i, k in pairs]
        )


async def replace_entries(
    actor: User | None,
    playlist_id: int,
    track_ids: Sequence[int],
    *,
    expected_version: int | None = None,
) -> AddResult:
    """Make the playlist exactly these tracks, in this order (duplicates skipped unless
    allowed)."""
    _check_ids(track_ids)
    playlist = await Playlist.get_or_none(id=playlist_id)
    if playlist is None:
        raise access.not_found()
    user = await access.require_entry_editor(playlist, actor)
    await _require_tracks(track_ids)
    async with locked(playlist_id, expected_version) as lock:
        removed = await PlaylistEntry.filter(playlist_id=playlist_id).using_db(lock.conn).delete()
        added, skipped, _ = await _add(lock, user.id, track_ids, None, 0)
        await _bump(lock, len(added) - removed)
        return AddResult(lock.playlist, added, skipped)


async def entries_page(
    viewer: User | None, playlist_id: int, first: int | None, after: str | None
) -> Page[EntryRow]:
    """Entries in order. The cursor holds the sort key and the position, so a page is one
    index seek at any depth and each entry knows its position."""
    playlist = await access.require_visible(await Playlist.get_or_none(id=playlist_id), viewer)
    size = page_size(first)
    cursor = decode_cursor(after, 2)
    qs = PlaylistEntry.filter(playlist_id=playlist.id)
    start = 0
    if cursor is not None:
        if not all(isinstance(v, int) for v in cursor):
            raise InvalidInput("This cursor is not valid.", field="after")
        qs = qs.filter(sort_key__gt=cursor[0])
        start = cursor[1] + 1
    rows = await qs.order_by("sort_key").limit(size + 1)
    return _entries_page(rows, size, start, cursor is not None)


async def first_entries(
    viewer: User | None, playlists: Sequence[Playlist], size: int
) -> dict[int, Page[EntryRow]]:
    """The first page of entries of each playlist the viewer may see, in one query for all
    (a list of playlists showing a few entries each); the others are left out."""
    visible = await access.readable_ids(playlists, viewer)
    ids = [p.id for p in playlists if p.id in visible]
    firsts = await first_of_each(PlaylistEntry, "playlist_id", ids, "sort_key", size + 1)
    return {pid: _entries_page(rows, size, 0, False) for pid, rows in firsts.items()}


def _entries_page(
    rows: Sequence[PlaylistEntry], size: int, start: int, has_previous: bool
) -> Page[EntryRow]:
    """``size + 1`` rows from position ``start`` as a page (the extra row says there is more)."""
    items = [EntryRow(e, start + i) for i, e in enumerate(rows[:size])]
    return Page(
        items,
        [encode_cursor([r.entry.sort_key, r.index]) for r in items],
        len(rows) > size,
        has_previous,
    )
