from __future__ import annotations

import strawberry

from ncm.playlists import shares
from ncm.schema.base import pk_of
from ncm.schema.context import Info
from ncm.schema.playlists.types import Playlist, ShareLink, visible_playlist


@strawberry.type
class PlaylistsQuery:
    @strawberry.field(description="A playlist; null when it does not exist or is private.")
    async def playlist(self, info: Info, id: strawberry.ID) -> Playlist | None:
        return await visible_playlist(info, pk_of(id, "Playlist"))

    @strawberry.field(description="What a share link points to; null for an unknown token.")
    async def share_link(self, info: Info, token: str) -> ShareLink | None:
        share = await shares.get_share(token)
        return ShareLink(model=share) if share else None
