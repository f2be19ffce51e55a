from __future__ import annotations

import strawberry

from ncm.accounts.models import User as UserModel
from ncm.config import get_settings
from ncm.schema.base import Connection, connection, pk_of
from ncm.schema.context import Info
from ncm.schema.stream.types import Play, PlaybackResult, playback_result
from ncm.stream import plays
from ncm.stream import service as playback_service
from ncm.stream.decision import RequestedQuality


def _viewer_id(info: Info) -> int | None:
    """From the token alone: decisions must not need the users table to know who asks
    (degraded mode), and the region and membership are loaded with the other facts."""
    if info.context.token_invalid:
        raise info.context.token_refusal()
    return info.context.viewer_id


def _base_url(info: Info) -> str:
    return get_settings().stream_cdn_base_url or str(info.context.request.base_url)


@strawberry.type
class PlaybackQuery:
    @strawberry.field(description="Whether and how the viewer may play a track, and why.")
    async def playback(
        self,
        info: Info,
        track_id: strawberry.ID,
        quality: RequestedQuality = RequestedQuality.BEST,
    ) -> PlaybackResult:
        found = await playback_service.playback(
            _viewer_id(info),
            pk_of(track_id, "Track", field="trackId"),
            quality,
            base_url=_base_url(info),
            region=info.context.playback_region,
        )
        return playback_result(found)

    @strawberry.field(
        description="`playback` for a whole queue (at most 100 tracks), in order, at the "
        "cost of one track."
    )
    async def playbacks(
        self,
        info: Info,
        track_ids: list[strawberry.ID],
        quality: RequestedQuality = RequestedQuality.BEST,
    ) -> list[PlaybackResult]:
        ids = [pk_of(i, "Track", field="trackIds") for i in track_ids]
        found = await playback_service.playbacks(
            _viewer_id(info),
            ids,
            quality,
            base_url=_base_url(info),
            region=info.context.playback_region,
        )
        return [playback_result(p) for p in found]


@strawberry.type
class PlaybackViewer:
    """The viewer's playback fields (composed into `Viewer`)."""

    model: strawberry.Private[UserModel]

    @strawberry.field(description="Your plays, most recent first (one entry per play).")
    async def recently_played(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Play]:
        return connection(await plays.recently_played(self.model, first, after), Play.from_model)
