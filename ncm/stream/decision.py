"""The playback decision: a pure function of facts, so it explains itself and runs the same
on facts from the database or from the degraded-mode cache.

Order (docs/playback.md): the track exists and is not withdrawn; a license covers the
listener's region now; the listener is logged in; renditions exist; the fee policy and the
membership decide the qualities allowed (and whether only a preview); the quality asked for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from ncm.catalog.models import QUALITY_ORDER, FeePolicy, Quality, TrackStatus

PREVIEW_MS = 30_000
WILDCARD_REGION = "*"
# What a listener without a membership may hear of FREE_STANDARD and (as a preview)
# MEMBERS_ONLY tracks.
FREE_QUALITIES = frozenset({Quality.STANDARD})


class RequestedQuality(StrEnum):
    BEST = "BEST"
    STANDARD = "STANDARD"
    HIGHER = "HIGHER"
    EXHIGH = "EXHIGH"
    LOSSLESS = "LOSSLESS"
    HIRES = "HIRES"


class Outcome(StrEnum):
    PLAYABLE = "PLAYABLE"
    NOT_LICENSED_IN_REGION = "NOT_LICENSED_IN_REGION"
    MEMBERSHIP_REQUIRED = "MEMBERSHIP_REQUIRED"
    TRACK_UNAVAILABLE = "TRACK_UNAVAILABLE"
    QUALITY_UNAVAILABLE = "QUALITY_UNAVAILABLE"
    LOGIN_REQUIRED = "LOGIN_REQUIRED"
    SERVICE_DEGRADED = "SERVICE_DEGRADED"


class Unavailable(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    WITHDRAWN = "WITHDRAWN"
    NOT_YET_AVAILABLE = "NOT_YET_AVAILABLE"
    LICENSE_EXPIRED = "LICENSE_EXPIRED"
    NO_RENDITIONS = "NO_RENDITIONS"


def rank(quality: Quality) -> int:
    return QUALITY_ORDER.index(quality)


@dataclass(frozen=True, slots=True)
class RenditionFacts:
    id: int
    quality: Quality
    bitrate: int
    format: str
    size_bytes: int
    path: str


@dataclass(frozen=True, slots=True)
class LicenseFacts:
    region: str
    available_from: datetime | None
    available_until: datetime | None

    def covers(self, at: datetime) -> bool:
        return (self.available_from is None or self.available_from <= at) and (
            self.available_until is None or at < self.available_until
        )


@dataclass(frozen=True, slots=True)
class TrackFacts:
    id: int
    status: TrackStatus
    fee_policy: FeePolicy
    duration_ms: int
    renditions: tuple[RenditionFacts, ...]  # ordered by quality, lowest first
    licenses: tuple[LicenseFacts, ...]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for lic in data["licenses"]:
            for key in ("available_from", "available_until"):
                lic[key] = lic[key].isoformat() if lic[key] else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrackFacts:
        def when(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        return cls(
            id=data["id"],
            status=TrackStatus(data["status"]),
            fee_policy=FeePolicy(data["fee_policy"]),
            duration_ms=data["duration_ms"],
            renditions=tuple(
                RenditionFacts(**{**r, "quality": Quality(r["quality"])})
                for r in data["renditions"]
            ),
            licenses=tuple(
                LicenseFacts(
                    lic["region"], when(lic["available_from"]), when(lic["available_until"])
                )
                for lic in data["licenses"]
            ),
        )


@dataclass(frozen=True, slots=True)
class ListenerFacts:
    """Who asks: ``user_id`` None is an anonymous viewer."""

    user_id: int | None
    region: str | None
    member: bool = False
    member_source: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ListenerFacts:
        return cls(**data)


@dataclass
class Decision:
    track_id: int
    outcome: Outcome
    message: str
    explain: list[str] = field(default_factory=list)
    rendition: RenditionFacts | None = None
    preview_ms: tuple[int, int] | None = None  # (start, end) of a preview, else None
    preview_bytes: tuple[int, int] | None = None  # the inclusive byte range it may fetch
    available_qualities: list[Quality] = field(default_factory=list)
    best_quality: Quality | None = None
    requested: RequestedQuality | None = None
    unavailable: Unavailable | None = None
    available_from: datetime | None = None
    available_until: datetime | None = None
    region: str | None = None
    retry_after: int | None = None


def degraded(track_id: int, retry_after: int, why: str) -> Decision:
    return Decision(
        track_id,
        Outcome.SERVICE_DEGRADED,
        "Playback information is temporarily unavailable; try again shortly.",
        [why],
        retry_after=retry_after,
    )


def _license(
    track: TrackFacts, region: str | None, at: datetime, steps: list[str]
) -> Decision | None:
    wanted = {WILDCARD_REGION} | ({region} if region else set())
    applicable = [lic for lic in track.licenses if lic.region in wanted]
    where = region or "an unknown region"
    if not applicable:
        regions = ", ".join(sorted(lic.region for lic in track.licenses)) or "none"
        steps.append(f"license: none for {where} (licensed regions: {regions})")
        message = (
            f"This track is not licensed in {region}."
            if region
            else "This track is licensed only in some regions, and your account has none: "
            "set it with updateProfile(input: {region: ...})."
        )
        return Decision(
            track.id,
            Outcome.NOT_LICENSED_IN_REGION,
            message,
            steps,
            region=region,
        )
    current = [lic for lic in applicable if lic.covers(at)]
    if current:
        steps.append(f"license: {current[0].region} covers {where} now")
        return None
    upcoming = [
        lic.available_from for lic in applicable if lic.available_from and lic.available_from > at
    ]
    if upcoming:
        start = min(upcoming)
        steps.append(f"license window: opens {start.isoformat()}")
        return Decision(
            track.id,
            Outcome.TRACK_UNAVAILABLE,
            f"This track is available from {start:%Y-%m-%d}.",
            steps,
            unavailable=Unavailable.NOT_YET_AVAILABLE,
            available_from=start,
            region=region,
        )
    ended = max((lic.available_until for lic in applicable if lic.available_until), default=None)
    steps.append(f"license window: ended {ended.isoformat() if ended else '?'}")
    return Decision(
        track.id,
        Outcome.TRACK_UNAVAILABLE,
        "This track's license has expired.",
        steps,
        unavailable=Unavailable.LICENSE_EXPIRED,
        available_until=ended,
        region=region,
    )


def _preview(
    track: TrackFacts, rendition: RenditionFacts
) -> tuple[tuple[int, int], tuple[int, int]]:
    """The first 30 seconds, and the bytes that hold them (constant bitrate: proportional to
    the duration, rounded up)."""
    end_ms = min(PREVIEW_MS, track.duration_ms)
    if track.duration_ms <= 0:
        return (0, end_ms), (0, max(0, rendition.size_bytes - 1))
    last = -(-rendition.size_bytes * end_ms // track.duration_ms) - 1
    return (0, end_ms), (0, max(0, min(last, rendition.size_bytes - 1)))


def decide(
    track: TrackFacts | None,
    listener: ListenerFacts,
    requested: RequestedQuality,
    at: datetime,
    track_id: int | None = None,
) -> Decision:
    """What ``listener`` may play of ``track`` at ``requested`` quality, and why."""
    if track is None:
        tid = track_id or 0
        return Decision(
            tid,
            Outcome.TRACK_UNAVAILABLE,
            "This track does not exist.",
            ["track: not found"],
            unavailable=Unavailable.NOT_FOUND,
        )
    qualities = ", ".join(r.quality.value for r in track.renditions) or "none"
    # The steps name no internal id: API clients read them (`explanation`).
    steps = [
        f"track: {track.status.value}, fee policy {track.fee_policy.value}, renditions: {qualities}"
    ]
    if track.status == TrackStatus.WITHDRAWN:
        return Decision(
            track.id,
            Outcome.TRACK_UNAVAILABLE,
            "This track has been withdrawn.",
            steps,
            unavailable=Unavailable.WITHDRAWN,
        )
    refused = _license(track, listener.region, at, steps)
    if refused is not None:
        return refused
    if listener.user_id is None:
        steps.append("viewer: not logged in")
        return Decision(track.id, Outcome.LOGIN_REQUIRED, "Log in to play this track.", steps)
    membership = f"member ({listener.member_source})" if listener.member else "not a member"
    steps.append(f"viewer: {membership}")
    if not track.renditions:
        return Decision(
            track.id,
            Outcome.TRACK_UNAVAILABLE,
            "This track has no audio yet.",
            steps,
            unavailable=Unavailable.NO_RENDITIONS,
        )
    full_access = listener.member or track.fee_policy == FeePolicy.FREE
    allowed = [r for r in track.renditions if full_access or r.quality in FREE_QUALITIES]
    preview = not listener.member and track.fee_policy == FeePolicy.MEMBERS_ONLY
    allowed_q = [r.quality for r in allowed]
    steps.append(
        f"allowed: {', '.join(q.value for q in allowed_q) or 'nothing'}"
        + (" (30-second preview)" if preview and allowed else "")
    )
    if requested == RequestedQuality.BEST:
        choice = allowed[-1] if allowed else None
        if choice is None:
            return Decision(
                track.id,
                Outcome.MEMBERSHIP_REQUIRED,
                "A membership is needed to play this track.",
                steps,
                requested=requested,
            )
    else:
        wanted = Quality(requested.value)
        existing = {r.quality: r for r in track.renditions}
        found = existing.get(wanted)
        if found is None:
            best = allowed_q[-1] if allowed_q else None
            steps.append(f"quality {wanted.value}: no such rendition")
            return Decision(
                track.id,
                Outcome.QUALITY_UNAVAILABLE,
                f"This track is not available in {wanted.value}.",
                steps,
                available_qualities=allowed_q,
                best_quality=best,
                requested=requested,
            )
        if wanted not in allowed_q:
            steps.append(f"quality {wanted.value}: needs a membership")
            return Decision(
                track.id,
                Outcome.MEMBERSHIP_REQUIRED,
                f"A membership is needed to play this track in {wanted.value}.",
                steps,
                available_qualities=allowed_q,
                best_quality=allowed_q[-1] if allowed_q else None,
                requested=requested,
            )
        choice = found
    steps.append(f"quality {requested.value}: {choice.quality.value} ({choice.bitrate} kbit/s)")
    decision = Decision(
        track.id,
        Outcome.PLAYABLE,
        "A 30-second preview; a membership plays the whole track." if preview else "Playable.",
        steps,
        rendition=choice,
        available_qualities=allowed_q,
        best_quality=allowed_q[-1],
        requested=requested,
    )
    if preview:
        decision.preview_ms, decision.preview_bytes = _preview(track, choice)
    return decision
