"""Share links: a short unguessable token for a track or a playlist, and what followed it.

Subscriptions, likes and (with the playback work) plays that arrive with a share token
are credited to the share in stored counters.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from ncm.accounts.models import User
from ncm.accounts.permissions import require_viewer
from ncm.catalog.models import Track
from ncm.errors import InvalidInput, NotFound
from ncm.kit import ratelimit
from ncm.playlists import access
from ncm.playlists.models import Playlist, PlaylistEntry, PlaylistKind, ShareChannel, ShareLink

TOKEN_LENGTH = 10  # 62^10 ≈ 8e17: unguessable, short enough to paste
_ALPHABET = string.ascii_letters + string.digits
SHARES_PER_MINUTE = 60
CREDITS = {"like_count", "subscription_count", "play_count"}


def new_token() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(TOKEN_LENGTH))


async def _limit(user: User) -> None:
    await ratelimit.enforce(
        f"share:{user.id}", SHARES_PER_MINUTE, 60, "Too many shares; try again shortly."
    )


async def _create(user: User, channel: ShareChannel, **target: Any) -> ShareLink:
    for _ in range(5):
        try:
            async with in_transaction() as conn:
                share = await ShareLink.create(
                    token=new_token(), sharer_id=user.id, channel=channel, using_db=conn, **target
                )
                model = Track if "track_id" in target else Playlist
                await (
                    model.filter(id=next(iter(target.values())))
                    .using_db(conn)
                    .update(share_count=F("share_count") + 1)
                )
                return share
        except IntegrityError:
            continue  # a token collision: astronomically rare, try another
    raise RuntimeError("could not allocate a share token")


async def share_track(actor: User | None, track_id: int, channel: ShareChannel) -> ShareLink:
    user = require_viewer(actor)
    if not await Track.exists(id=track_id):
        raise NotFound("No such track.", field="trackId")
    await _limit(user)
    return await _create(user, channel, track_id=track_id)


async def share_playlist(actor: User | None, playlist_id: int, channel: ShareChannel) -> ShareLink:
    user = require_viewer(actor)
    playlist = await access.require_visible(await Playlist.get_or_none(id=playlist_id), user)
    if playlist.kind == PlaylistKind.LIKED and playlist.owner_id != user.id:
        raise access.not_found()
    await _limit(user)
    return await _create(user, channel, playlist_id=playlist.id)


async def find_share(token: str | None) -> ShareLink | None:
    """The share of a token, or ``None`` for no token; an unknown token is InvalidInput."""
    if token is None:
        return None
    token = token.strip()
    share = None
    if 1 <= len(token) <= 16 and token.isalnum():
        share = await ShareLink.get_or_none(token=token)
    if share is None:
        raise InvalidInput("This share link is not valid.", field="shareToken")
    return share


async def share_for_track(token: str | None, track_id: int, viewer: User) -> int | None:
    """The share a like or a play of this track is credited to (``None`` without a token):
    a share of the track, or of a playlist holding it. A token for another track, or for a
    playlist without it, is InvalidInput. A share of a playlist the viewer may not see
    (made private since) credits nothing and says nothing of what the playlist holds."""
    share = await find_share(token)
    if share is None:
        return None
    if share.playlist_id is None:
        if share.track_id == track_id:
            return share.id
        raise InvalidInput("This share link is not for this track.", field="shareToken")
    playlist = await Playlist.get_or_none(id=share.playlist_id)
    if playlist is None or playlist.id not in await access.readable_ids([playlist], viewer):
        return None
    if await PlaylistEntry.exists(playlist_id=playlist.id, track_id=track_id):
        return share.id
    raise InvalidInput("This share link is not for this track.", field="shareToken")


async def share_for_playlist(token: str | None, playlist_id: int) -> int | None:
    """The share a subscription to this playlist is credited to (``None`` without a token)."""
    share = await find_share(token)
    if share is None:
        return None
    if share.playlist_id != playlist_id:
        raise InvalidInput("This share link is not for this playlist.", field="shareToken")
    return share.id


async def get_share(token: str) -> ShareLink | None:
    """For the public ``shareLink(token)`` query: ``None`` when unknown."""
    if not (1 <= len(token) <= 16 and token.isalnum()):
        return None
    return await ShareLink.get_or_none(token=token)


async def credit(
    conn: BaseDBAsyncClient, share_id: int | None, counter: str, amount: int = 1
) -> None:
    """Count something that followed a share (in the caller's transaction); ``amount=-1``
    takes back a like or a subscription that is undone (they count while they stand)."""
    if share_id is None:
        return
    if counter not in CREDITS:
        raise ValueError(counter)
    await ShareLink.filter(id=share_id).using_db(conn).update(**{counter: F(counter) + amount})
