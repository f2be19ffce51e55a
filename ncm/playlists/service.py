"""Playlists: create, edit, soft-delete and restore, collaborators, subscriptions, lists."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from ncm.accounts.models import User
from ncm.accounts.permissions import require_viewer
from ncm.accounts.validation import image_url
from ncm.errors import InvalidInput, NotFound
from ncm.kit import ratelimit
from ncm.kit.db import column, placeholder
from ncm.kit.locks import lock_for_transaction
from ncm.kit.pagination import Page, decode_cursor, make_page, page_by_id_desc, page_size
from ncm.kit.sql import by_id
from ncm.kit.unset import UNSET
from ncm.playlists import access, shares
from ncm.playlists.entries import locked
from ncm.playlists.models import (
    Playlist,
    PlaylistCollaborator,
    PlaylistKind,
    PlaylistSubscription,
    Privacy,
)
from ncm.playlists.ordering import GAP, keys_between
from ncm.search.text import document_tokens

MAX_TITLE = 100
MAX_DESCRIPTION = 1000
MAX_TAGS = 10
MAX_TAG_LENGTH = 24
MAX_COLLABORATORS = 50
RESTORE_DAYS = 30
CREATES_PER_HOUR = 100
OWN_ORDER_LOCK = "ncm.playlists.own-order"


def cover(value: str | None) -> str | None:
    return image_url(value, field="coverUrl", what="cover")


def _now() -> datetime:
    return datetime.now(UTC)


def _title(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise InvalidInput("A playlist needs a title.", field="title")
    if len(value) > MAX_TITLE:
        raise InvalidInput(f"A title is at most {MAX_TITLE} characters.", field="title")
    return value


def _description(value: str | None) -> str:
    value = (value or "").strip()
    if len(value) > MAX_DESCRIPTION:
        raise InvalidInput(
            f"A description is at most {MAX_DESCRIPTION} characters.", field="description"
        )
    return value


def _tags(values: Sequence[str] | None) -> list[str]:
    """Trimmed, without repeats (case-insensitive), at most ``MAX_TAGS``: refused as soon as
    the list is known to be too long, whatever its size."""
    tags: dict[str, str] = {}  # lowercased -> as given
    for raw in values or []:
        if len(raw) > 4 * MAX_TAG_LENGTH:  # not even worth splitting
            raise InvalidInput(f"A tag is at most {MAX_TAG_LENGTH} characters.", field="tags")
        tag = " ".join(raw.split())
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise InvalidInput(f"A tag is at most {MAX_TAG_LENGTH} characters.", field="tags")
        tags.setdefault(tag.lower(), tag)
        if len(tags) > MAX_TAGS:
            raise InvalidInput(f"At most {MAX_TAGS} tags.", field="tags")
    return list(tags.values())


def _search_text(playlist: Playlist) -> str:
    return document_tokens(playlist.title, *playlist.tags)


async def create_playlist(
    actor: User | None,
    *,
    title: str,
    description: str | None = None,
    privacy: Privacy = Privacy.PUBLIC,
    tags: Sequence[str] | None = None,
    cover_url: str | None = None,
    allow_duplicates: bool = False,
) -> Playlist:
    """A new playlist at the top of the owner's list."""
    user = require_viewer(actor)
    playlist = Playlist(
        owner_id=user.id,
        title=_title(title),
        description=_description(description),
        privacy=privacy,
        tags=_tags(tags),
        cover_url=cover(cover_url),
        allow_duplicates=allow_duplicates,
    )
    await ratelimit.enforce(
        f"playlist-create:{user.id}",
        CREATES_PER_HOUR,
        3600,
        "Too many new playlists; try again later.",
    )
    playlist.search_text = _search_text(playlist)
    async with in_transaction() as conn:
        # The owner's list order: creates and moves of one owner queue, so two playlists
        # made at the same moment do not share a place.
        await lock_for_transaction(conn, OWN_ORDER_LOCK, user.id)
        mine = Playlist.filter(owner_id=user.id).using_db(conn)
        top = await mine.order_by("owner_sort_key").first()
        playlist.owner_sort_key = (top.owner_sort_key - GAP) if top else 0
        await playlist.save(using_db=conn)
    return playlist


async def _owned(actor: User | None, playlist_id: int) -> Playlist:
    playlist = await Playlist.get_or_none(id=playlist_id)
    if playlist is None:
        raise access.not_found()
    await access.require_owner(playlist, actor)
    return playlist


async def update_playlist(
    actor: User | None,
    playlist_id: int,
    *,
    expected_version: int | None = None,
    title: Any = UNSET,
    description: Any = UNSET,
    cover_url: Any = UNSET,
    tags: Any = UNSET,
    privacy: Any = UNSET,
    allow_duplicates: Any = UNSET,
) -> Playlist:
    """Owner only: change the given fields (``UNSET`` leaves a field alone)."""
    playlist = await _owned(actor, playlist_id)
    if playlist.kind == PlaylistKind.LIKED and (title is not UNSET or privacy is not UNSET):
        raise InvalidInput("Liked songs keep their name and privacy.", field="title")
    changes: dict[str, Any] = {}
    if title is not UNSET:
        changes["title"] = _title(title)
    if description is not UNSET:
        changes["description"] = _description(description)
    if cover_url is not UNSET:
        changes["cover_url"] = cover(cover_url)
    if tags is not UNSET:
        changes["tags"] = _tags(tags)
    if privacy is not UNSET:
        changes["privacy"] = Privacy(privacy)
    if allow_duplicates is not UNSET:
        changes["allow_duplicates"] = bool(allow_duplicates)
    async with locked(playlist.id, expected_version) as lock:
        if not changes:
            return lock.playlist
        for name, value in changes.items():
            setattr(lock.playlist, name, value)
        lock.playlist.search_text = _search_text(lock.playlist)
        lock.playlist.version += 1
        await lock.playlist.save(
            using_db=lock.conn,
            update_fields=[*changes, "search_text", "version", "updated_at"],
        )
        return lock.playlist


async def delete_playlist(actor: User | None, playlist_id: int) -> Playlist:
    """Soft delete: the owner may restore it for 30 days, then a job purges it."""
    playlist = await _owned(actor, playlist_id)
    if playlist.kind == PlaylistKind.LIKED:
        raise InvalidInput("Liked songs cannot be deleted.", field="playlistId")
    async with locked(playlist.id) as lock:
        lock.playlist.deleted_at = _now()
        lock.playlist.version += 1
        await lock.playlist.save(using_db=lock.conn, update_fields=["deleted_at", "version"])
        return lock.playlist


async def restore_playlist(actor: User | None, playlist_id: int) -> Playlist:
    user = require_viewer(actor)
    playlist = await Playlist.get_or_none(id=playlist_id, owner_id=user.id)
    if playlist is None:
        raise access.not_found()
    if playlist.deleted_at is None:
        return playlist
    if playlist.deleted_at < _now() - timedelta(days=RESTORE_DAYS):
        raise NotFound("This playlist was deleted too long ago to restore.", field="playlistId")
    updated = await Playlist.filter(id=playlist.id, deleted_at__isnull=False).update(
        deleted_at=None, version=F("version") + 1
    )
    if updated:
        await playlist.refresh_from_db()
    return playlist


async def purge_deleted(now: datetime | None = None, batch: int = 1000) -> int:
    """Delete playlists soft-deleted more than 30 days ago, in batches (idempotent)."""
    cutoff = (now or _now()) - timedelta(days=RESTORE_DAYS)
    total = 0
    while True:
        ids = await column(Playlist.filter(deleted_at__lt=cutoff).limit(batch), "id")
        if not ids:
            return total
        # Count the ids: SQLite's change count includes the search index's trigger writes.
        await Playlist.filter(id__in=list(ids)).delete()
        total += len(ids)


async def get_visible(viewer: User | None, playlist_id: int) -> Playlist:
    return await access.require_visible(await Playlist.get_or_none(id=playlist_id), viewer)


async def playlists_by_ids(ids: Sequence[int]) -> dict[int, Playlist]:
    return await by_id(Playlist, ids)


async def visible_playlists(viewer: User | None, ids: Sequence[int]) -> dict[int, Playlist]:
    """The playlists of these ids the viewer may see (two queries at most)."""
    found = await playlists_by_ids(ids)
    private = [p.id for p in found.values() if p.privacy != Privacy.PUBLIC]
    collab = await access.collaborator_ids(private, viewer.id) if viewer and private else set()
    return {
        i: p
        for i, p in found.items()
        if access.visible_to(p, viewer, p.id in collab) and p.deleted_at is None
    }


# Collaborators


async def add_collaborator(actor: User | None, playlist_id: int, user_id: int) -> Playlist:
    playlist = await _owned(actor, playlist_id)
    if playlist.kind == PlaylistKind.LIKED:
        raise InvalidInput("Liked songs are yours alone.", field="playlistId")
    if user_id == playlist.owner_id:
        raise InvalidInput("The owner already edits this playlist.", field="userId")
    if not await User.exists(id=user_id):
        raise NotFound("No such user.", field="userId")
    async with locked(playlist.id) as lock:
        count = (
            await PlaylistCollaborator.filter(playlist_id=playlist.id).using_db(lock.conn).count()
        )
        if count >= MAX_COLLABORATORS:
            raise InvalidInput(f"At most {MAX_COLLABORATORS} collaborators.", field="userId")
        p1, p2, p3 = placeholder(1), placeholder(2), placeholder(3)
        await lock.conn.execute_query_dict(
            "INSERT INTO playlist_collaborators (playlist_id, user_id, created_at) "
            f"VALUES ({p1}, {p2}, {p3}) ON CONFLICT (playlist_id, user_id) DO NOTHING RETURNING id",
            [playlist.id, user_id, _now()],
        )
        return lock.playlist


async def remove_collaborator(actor: User | None, playlist_id: int, user_id: int) -> Playlist:
    """The owner removes anyone; a collaborator may remove themself (leave)."""
    user = require_viewer(actor)
    playlist = await Playlist.get_or_none(id=playlist_id)
    if playlist is None or playlist.deleted_at is not None:  # restore it first
        raise access.not_found()
    if user.id != user_id:
        await access.require_owner(playlist, user)
    elif not await access.can_view(playlist, user):
        raise access.not_found()
    await PlaylistCollaborator.filter(playlist_id=playlist_id, user_id=user_id).delete()
    return playlist


async def collaborators_of(playlist_ids: Sequence[int]) -> dict[int, list[int]]:
    rows = await PlaylistCollaborator.filter(playlist_id__in=list(playlist_ids)).order_by("id")
    result: dict[int, list[int]] = {}
    for row in rows:
        result.setdefault(row.playlist_id, []).append(row.user_id)
    return result


# Subscriptions


async def subscribe(
    actor: User | None, playlist_id: int, *, share_token: str | None = None
) -> tuple[Playlist, bool]:
    """Save someone else's public playlist; returns (playlist, newly subscribed). A share
    token (of this playlist) credits the share that led here."""
    user = require_viewer(actor)
    playlist = await get_visible(user, playlist_id)
    if playlist.owner_id == user.id:
        raise InvalidInput("You own this playlist.", field="playlistId")
    if playlist.privacy != Privacy.PUBLIC or playlist.kind != PlaylistKind.NORMAL:
        raise InvalidInput("Only public playlists can be saved.", field="playlistId")
    share_id = await shares.share_for_playlist(share_token, playlist.id)
    p = [placeholder(i) for i in range(1, 5)]
    async with in_transaction() as conn:
        rows = await conn.execute_query_dict(
            "INSERT INTO playlist_subscriptions (user_id, playlist_id, share_id, created_at) "
            f"VALUES ({p[0]}, {p[1]}, {p[2]}, {p[3]}) "
            "ON CONFLICT (user_id, playlist_id) DO NOTHING RETURNING id",
            [user.id, playlist.id, share_id, _now()],
        )
        if rows:
            await (
                Playlist.filter(id=playlist.id)
                .using_db(conn)
                .update(subscriber_count=F("subscriber_count") + 1)
            )
            await shares.credit(conn, share_id, "subscription_count")
    await playlist.refresh_from_db(fields=["subscriber_count"])
    return playlist, bool(rows)


async def unsubscribe(actor: User | None, playlist_id: int) -> Playlist:
    """Stop saving a playlist (idempotent). A playlist the viewer may no longer see (made
    private, deleted) is still dropped from their saved ones, and then answers NotFound
    rather than show it."""
    user = require_viewer(actor)
    playlist = await Playlist.get_or_none(id=playlist_id)
    if playlist is None:
        raise access.not_found()
    async with in_transaction() as conn:
        saved = PlaylistSubscription.filter(user_id=user.id, playlist_id=playlist_id)
        row = await saved.using_db(conn).first()
        deleted = await saved.using_db(conn).delete() if row is not None else 0
        if deleted and row is not None:
            await (
                Playlist.filter(id=playlist_id)
                .using_db(conn)
                .update(subscriber_count=F("subscriber_count") - 1)
            )
            # A share counts the subscriptions it brought while they stand.
            await shares.credit(conn, row.share_id, "subscription_count", -1)
    await playlist.refresh_from_db(fields=["subscriber_count"])
    return await access.require_visible(playlist, user)


async def subscription_states(user_id: int, playlist_ids: Sequence[int]) -> dict[int, bool]:
    rows = await column(
        PlaylistSubscription.filter(user_id=user_id, playlist_id__in=list(playlist_ids)),
        "playlist_id",
    )
    found = set(rows)
    return {i: i in found for i in playlist_ids}


async def subscribed_page(
    actor: User | None, first: int | None, after: str | None
) -> Page[PlaylistSubscription]:
    user = require_viewer(actor)
    return await page_by_id_desc(PlaylistSubscription.filter(user_id=user.id), first, after)


# Lists


async def _ordered_page(query: Any, first: int | None, after: str | None) -> Page[Playlist]:
    """Playlists in their owner's order: keyset on (owner_sort_key, id)."""
    size = page_size(first)
    cursor = decode_cursor(after, 2)
    if cursor is not None:
        if not all(isinstance(v, int) for v in cursor):
            raise InvalidInput("This cursor is not valid.", field="after")
        key, last_id = cursor
        query = query.filter(owner_sort_key__gte=key).filter(
            Q(owner_sort_key__gt=key) | Q(owner_sort_key=key, id__gt=last_id)
        )
    rows = await query.order_by("owner_sort_key", "id").limit(size + 1)
    return make_page(rows, size, lambda p: [p.owner_sort_key, p.id], has_previous=bool(after))


async def own_playlists(actor: User | None, first: int | None, after: str | None) -> Page[Playlist]:
    """The viewer's own playlists in the order they chose (liked songs are separate)."""
    user = require_viewer(actor)
    query = Playlist.filter(owner_id=user.id, kind=PlaylistKind.NORMAL, deleted_at__isnull=True)
    return await _ordered_page(query, first, after)


async def deleted_playlists(actor: User | None) -> list[Playlist]:
    """What the viewer deleted and may still restore."""
    user = require_viewer(actor)
    cutoff = _now() - timedelta(days=RESTORE_DAYS)
    return (
        await Playlist.filter(owner_id=user.id, deleted_at__gte=cutoff)
        .order_by("-deleted_at")
        .limit(200)
    )


async def collaborations(
    actor: User | None, first: int | None, after: str | None
) -> Page[PlaylistCollaborator]:
    user = require_viewer(actor)
    return await page_by_id_desc(PlaylistCollaborator.filter(user_id=user.id), first, after)


async def user_playlists(
    viewer: User | None, user_id: int, first: int | None, after: str | None
) -> Page[Playlist]:
    """A user's playlists: the public ones, plus private ones the viewer owns or edits."""
    query = Playlist.filter(owner_id=user_id, kind=PlaylistKind.NORMAL, deleted_at__isnull=True)
    if viewer is None or viewer.id != user_id:
        collab = (
            await column(
                PlaylistCollaborator.filter(user_id=viewer.id, playlist__owner_id=user_id),
                "playlist_id",
            )
            if viewer
            else []
        )
        query = query.filter(Q(privacy=Privacy.PUBLIC) | Q(id__in=list(collab) or [0]))
    return await _ordered_page(query, first, after)


async def move_playlist(
    actor: User | None, playlist_id: int, before_playlist_id: int | None
) -> Playlist:
    """Reorder the viewer's own list: put the playlist before another (``None``: last)."""
    user = require_viewer(actor)
    playlist = await Playlist.get_or_none(
        id=playlist_id, owner_id=user.id, kind=PlaylistKind.NORMAL, deleted_at__isnull=True
    )
    if playlist is None:
        raise access.not_found()
    async with in_transaction() as conn:
        await lock_for_transaction(conn, OWN_ORDER_LOCK, user.id)  # as create_playlist
        mine = Playlist.filter(owner_id=user.id, kind=PlaylistKind.NORMAL).exclude(id=playlist.id)
        keys = await _own_slot(conn, mine, before_playlist_id)
        if keys is None:
            await _renumber_own(conn, user.id)
            keys = await _own_slot(conn, mine, before_playlist_id)
        assert keys is not None, "a renumbered list always has room"
        playlist.owner_sort_key = keys[0]
        await playlist.save(using_db=conn, update_fields=["owner_sort_key"])
    return playlist


async def _own_slot(conn: Any, mine: Any, before_id: int | None) -> list[int] | None:
    if before_id is None:
        last = await mine.using_db(conn).order_by("-owner_sort_key").first()
        return keys_between(last.owner_sort_key if last else None, None, 1)
    anchor = await mine.using_db(conn).filter(id=before_id, deleted_at__isnull=True).first()
    if anchor is None:
        raise NotFound("No such playlist of yours.", field="beforePlaylistId")
    prev = (
        await mine.using_db(conn)
        .filter(owner_sort_key__lt=anchor.owner_sort_key)
        .order_by("-owner_sort_key")
        .first()
    )
    return keys_between(prev.owner_sort_key if prev else None, anchor.owner_sort_key, 1)


async def _renumber_own(conn: Any, owner_id: int) -> None:
    rows = await column(
        Playlist.filter(owner_id=owner_id).using_db(conn).order_by("owner_sort_key", "id"),
        "id",
    )
    for i, pid in enumerate(rows):
        await Playlist.filter(id=pid).using_db(conn).update(owner_sort_key=(i + 1) * GAP)
