"""Who may see and change a playlist. A playlist others may not see is "not found"."""

from __future__ import annotations

from collections.abc import Sequence

from ncm.accounts.models import Role, User
from ncm.accounts.permissions import require_viewer
from ncm.errors import Forbidden, NotFound
from ncm.kit.db import column
from ncm.playlists.models import Playlist, PlaylistCollaborator, Privacy


def not_found() -> NotFound:
    return NotFound("No such playlist.", field="playlistId")


async def collaborator_ids(playlist_ids: Sequence[int], user_id: int) -> set[int]:
    """Which of these playlists the user collaborates on (one query)."""
    rows = await column(
        PlaylistCollaborator.filter(user_id=user_id, playlist_id__in=list(playlist_ids)),
        "playlist_id",
    )
    return set(rows)


def visible_to(playlist: Playlist, viewer: User | None, collaborates: bool) -> bool:
    if playlist.deleted_at is not None:
        return viewer is not None and viewer.id == playlist.owner_id
    if playlist.privacy == Privacy.PUBLIC:
        return True
    if viewer is None:
        return False
    return viewer.id == playlist.owner_id or collaborates or viewer.role == Role.ADMIN


async def can_view(playlist: Playlist, viewer: User | None) -> bool:
    if playlist.privacy == Privacy.PUBLIC and playlist.deleted_at is None:
        return True
    if viewer is None:
        return False
    collaborates = bool(await collaborator_ids([playlist.id], viewer.id))
    return visible_to(playlist, viewer, collaborates)


async def readable_ids(playlists: Sequence[Playlist], viewer: User | None) -> set[int]:
    """Which of these playlists the viewer may read (not deleted, and public, theirs or shared
    with them): at most one query for all of them."""
    live = [p for p in playlists if p.deleted_at is None]
    private = [p.id for p in live if p.privacy != Privacy.PUBLIC]
    shared = await collaborator_ids(private, viewer.id) if private and viewer else set()
    return {p.id for p in live if visible_to(p, viewer, p.id in shared)}


async def require_visible(playlist: Playlist | None, viewer: User | None) -> Playlist:
    if playlist is None or playlist.id not in await readable_ids([playlist], viewer):
        raise not_found()
    return playlist


async def require_entry_editor(playlist: Playlist, actor: User | None) -> User:
    """The owner and collaborators edit entries; others get NotFound or Forbidden."""
    user = require_viewer(actor)
    if user.id == playlist.owner_id:
        return user
    collaborates = bool(await collaborator_ids([playlist.id], user.id))
    if not visible_to(playlist, user, collaborates) or playlist.deleted_at is not None:
        raise not_found()
    if not collaborates:
        raise Forbidden("Only the owner and collaborators may edit this playlist.")
    return user


async def require_owner(playlist: Playlist, actor: User | None) -> User:
    user = require_viewer(actor)
    if user.id == playlist.owner_id:
        return user
    if not await can_view(playlist, user):
        raise not_found()
    raise Forbidden("Only the playlist's owner may do this.")
