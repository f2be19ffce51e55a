"""GraphQL types of playback: one typed result per track, and play events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from ncm.catalog import models as catalog_models
from ncm.catalog import service as catalog
from ncm.schema.base import ModelView, to_global_id
from ncm.schema.catalog.types import Track
from ncm.schema.context import Info
from ncm.stream import models as m
from ncm.stream.decision import Outcome, RequestedQuality, Unavailable
from ncm.stream.service import Playback

Quality = catalog_models.Quality
strawberry.enum(
    RequestedQuality,
    name="PlaybackQuality",
    description="A rendition quality, or BEST: the best one the viewer may play.",
)
strawberry.enum(m.PlaySource, name="PlaySource", description="Where a play began.")
strawberry.enum(
    Unavailable,
    name="UnavailableReason",
    description="NOT_FOUND; WITHDRAWN; NOT_YET_AVAILABLE / LICENSE_EXPIRED (outside the "
    "license window); NO_RENDITIONS.",
)


@strawberry.interface(description="Why a track cannot be played.")
class PlaybackDenial:
    track_id: strawberry.ID
    code: str = strawberry.field(description="Machine-readable, e.g. MEMBERSHIP_REQUIRED.")
    message: str = strawberry.field(description="A sentence a person can read.")
    explanation: list[str] = strawberry.field(description="The decision's steps, in order.")


@strawberry.type(description="The part of a members-only track a non-member may hear.")
class Preview:
    start_seconds: float
    end_seconds: float


@strawberry.type(description="A signed URL to play; fetch it before `expiresAt`.")
class Playable:
    track_id: strawberry.ID
    url: str
    quality: Quality
    format: str
    bitrate: int = strawberry.field(description="kbit/s")
    size_bytes: float = strawberry.field(description="Bytes of the whole file (a Float).")
    expires_at: datetime
    preview: Preview | None = strawberry.field(description="Null for the full track.")
    explanation: list[str]


@strawberry.type(description="No license covers the viewer's region.")
class NotLicensedInRegion(PlaybackDenial):
    region: str | None = strawberry.field(description="The viewer's region; null if unknown.")


@strawberry.type(description="The quality asked for (or the track) needs a membership.")
class MembershipRequired(PlaybackDenial):
    available_qualities: list[Quality] = strawberry.field(
        description="What the viewer may play without a membership."
    )


@strawberry.type(description="Withdrawn, outside its license window, or without audio.")
class TrackUnavailable(PlaybackDenial):
    reason: Unavailable
    available_from: datetime | None
    available_until: datetime | None


@strawberry.type(description="No rendition at the quality asked for.")
class QualityUnavailable(PlaybackDenial):
    requested: RequestedQuality
    best_available: Quality | None = strawberry.field(
        description="The best quality the viewer may play; ask for it (or BEST)."
    )


@strawberry.type(description="Log in to play.")
class LoginRequired(PlaybackDenial):
    pass


@strawberry.type(description="Playback information is temporarily unavailable.")
class ServiceDegraded(PlaybackDenial):
    retry_after_seconds: int


PlaybackResult = Annotated[
    Playable
    | NotLicensedInRegion
    | MembershipRequired
    | TrackUnavailable
    | QualityUnavailable
    | LoginRequired
    | ServiceDegraded,
    strawberry.union("PlaybackResult"),
]


def playback_result(p: Playback) -> PlaybackResult:
    d = p.decision
    common: dict[str, Any] = {
        "track_id": to_global_id("Track", d.track_id),
        "code": d.outcome.value,
        "message": d.message,
        "explanation": d.explain,
    }
    match d.outcome:
        case Outcome.PLAYABLE:
            r = d.rendition
            assert r is not None and p.url is not None and p.expires_at is not None
            preview = None
            if d.preview_ms is not None:
                preview = Preview(
                    start_seconds=d.preview_ms[0] / 1000, end_seconds=d.preview_ms[1] / 1000
                )
            return Playable(
                track_id=common["track_id"],
                url=p.url,
                quality=r.quality,
                format=r.format,
                bitrate=r.bitrate,
                size_bytes=r.size_bytes,
                expires_at=p.expires_at,
                preview=preview,
                explanation=d.explain,
            )
        case Outcome.NOT_LICENSED_IN_REGION:
            return NotLicensedInRegion(region=d.region, **common)
        case Outcome.MEMBERSHIP_REQUIRED:
            return MembershipRequired(available_qualities=d.available_qualities, **common)
        case Outcome.TRACK_UNAVAILABLE:
            assert d.unavailable is not None
            return TrackUnavailable(
                reason=d.unavailable,
                available_from=d.available_from,
                available_until=d.available_until,
                **common,
            )
        case Outcome.QUALITY_UNAVAILABLE:
            assert d.requested is not None
            return QualityUnavailable(
                requested=d.requested, best_available=d.best_quality, **common
            )
        case Outcome.LOGIN_REQUIRED:
            return LoginRequired(**common)
        case Outcome.SERVICE_DEGRADED:
            return ServiceDegraded(retry_after_seconds=d.retry_after or 30, **common)
    raise AssertionError(d.outcome)


@strawberry.type(description="One reported play.")
class Play(ModelView):
    track_pk: strawberry.Private[int]
    play_id: str
    started_at: datetime
    seconds_played: int
    source: m.PlaySource
    counted: bool = strawberry.field(
        description="30 seconds or more (the whole of a shorter track): counts as a play."
    )

    @strawberry.field
    async def track(self, info: Info) -> Track | None:
        row = await info.context.loaders.one(catalog.tracks_by_ids).load(self.track_pk)
        return Track.from_model(row) if row else None
