"""GraphQL for playback."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from ncm.schema.base import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    mutation,
    pk_of,
)
from ncm.schema.context import Info
from ncm.schema.stream.types import Play
from ncm.stream import plays
from ncm.stream.models import PlaySource


@strawberry.input(description="One play, reported when it ends (or is abandoned).")
class ReportPlayInput:
    play_id: str = strawberry.field(
        description="The client's unique id for this play (8-64 of A-Z a-z 0-9 - _): a retry "
        "with the same id is recorded once."
    )
    track_id: strawberry.ID
    started_at: datetime
    seconds_played: int
    source: PlaySource = PlaySource.OTHER
    share_token: str | None = strawberry.field(
        default=None, description="The share link the play came from, credited to it."
    )


@strawberry.type
class ReportPlayPayload:
    play: Play
    duplicate: bool = strawberry.field(description="This playId was reported before.")


ReportPlayResult = Annotated[
    ReportPlayPayload | InvalidInputError | NotFoundError | ConflictError | RateLimitedError,
    strawberry.union("ReportPlayResult"),
]


@strawberry.type
class PlaybackMutation:
    @mutation(
        description="Record a play; 30 seconds or more (or the whole of a shorter track) count."
    )
    async def report_play(self, info: Info, input: ReportPlayInput) -> ReportPlayResult:
        reported = await plays.report_play(
            await info.context.viewer(),
            play_id=input.play_id,
            track_id=pk_of(input.track_id, "Track", field="trackId"),
            started_at=input.started_at,
            seconds_played=input.seconds_played,
            source=input.source,
            share_token=input.share_token,
        )
        return ReportPlayPayload(play=Play.from_model(reported.play), duplicate=reported.duplicate)
