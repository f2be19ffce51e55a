"""Playback decisions with signed URLs, for one track or a whole queue.

The facts come from the database within ``NCM_PLAYBACK_DB_TIMEOUT_MS``; when it is slow or
down they come from the degraded-mode cache (``ncm.stream.cache``), and a track that is not
cached gets ``SERVICE_DEGRADED`` with a retry-after, never a vague failure. After a database
failure this process skips the database for ``BREAKER_SECONDS`` so every request does not
wait out the timeout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ncm.config import get_settings
from ncm.errors import InvalidInput
from ncm.incidents import affected, detector
from ncm.kit.db import is_unavailable
from ncm.stream import cache, facts, signing
from ncm.stream.decision import (
    Decision,
    ListenerFacts,
    Outcome,
    RenditionFacts,
    RequestedQuality,
    TrackFacts,
    decide,
    degraded,
)

log = logging.getLogger("ncm.stream")
MAX_QUEUE = 100
RETRY_AFTER_SECONDS = 30
BREAKER_SECONDS = 5.0
_db_skip_until = 0.0


@dataclass
class Playback:
    decision: Decision
    url: str | None = None
    expires_at: datetime | None = None


def reset_breaker() -> None:
    global _db_skip_until
    _db_skip_until = 0.0


def signed_url(
    track_id: int,
    rendition: RenditionFacts,
    user_id: int,
    *,
    base_url: str,
    now: datetime,
    byte_range: tuple[int, int] | None = None,
    ttl: int | None = None,
) -> tuple[str, datetime]:
    """A URL for the rendition's bytes (all, or ``byte_range``) valid for ``ttl`` seconds
    (``NCM_STREAM_URL_TTL``), on the CDN origin when one is configured."""
    settings = get_settings()
    expires = int(now.timestamp()) + (ttl or settings.stream_url_ttl)
    keys = settings.stream_signing_keys
    grant = signing.Grant(
        track_id,
        rendition.id,
        rendition.path,
        user_id,
        expires,
        signing.signing_key_id(keys),
        byte_range,
    )
    origin = settings.stream_cdn_base_url or base_url.rstrip("/")
    return origin + signing.sign(grant, keys), datetime.fromtimestamp(expires, UTC)


async def _load(
    track_ids: Sequence[int], user_id: int | None, at: datetime
) -> tuple[dict[int, TrackFacts], ListenerFacts]:
    listener = await facts.load_listener(user_id, at)
    return await facts.load_tracks(track_ids), listener


async def gather_facts(
    track_ids: Sequence[int], user_id: int | None, at: datetime
) -> tuple[dict[int, TrackFacts], ListenerFacts | None, str | None]:
    """``(tracks, listener, degraded reason)``: from the database, else from the cache
    (``listener`` None when the cache does not know the viewer either)."""
    global _db_skip_until
    settings = get_settings()
    why = "database skipped after a recent failure"
    if time.monotonic() >= _db_skip_until:
        try:
            tracks, listener = await asyncio.wait_for(
                _load(track_ids, user_id, at), settings.playback_db_timeout_ms / 1000
            )
        except Exception as exc:
            if not is_unavailable(exc):  # a bug or bad data: an error, not an outage
                raise
            why = f"database unavailable ({type(exc).__name__})"
            _db_skip_until = time.monotonic() + BREAKER_SECONDS
            log.warning("playback: %s; answering from the cache", why)
            detector.tripped(why)  # an incident, DETECTED (ncm.incidents.detector)
        else:
            if detector.is_tripped():
                detector.recovered()
            await cache.remember(list(tracks.values()), listener, settings.playback_cache_ttl)
            return tracks, listener, None
    try:
        cached, cached_listener = await cache.recall(track_ids, user_id)
    except cache.CacheUnavailable as exc:
        return {}, None, f"{why}; cache unavailable ({exc})"
    return cached, cached_listener, f"{why}; answered from the cache"


async def playbacks(
    user_id: int | None,
    track_ids: Sequence[int],
    quality: RequestedQuality = RequestedQuality.BEST,
    *,
    base_url: str,
    region: str | None = None,
    at: datetime | None = None,
) -> list[Playback]:
    """One decision per requested id, in order. ``region`` overrides the profile's (the
    operators' ``ncm stream explain --region``)."""
    if len(track_ids) > MAX_QUEUE:
        raise InvalidInput(f"At most {MAX_QUEUE} tracks per request.", field="trackIds")
    at = at or datetime.now(UTC)
    tracks, listener, why = await gather_facts(track_ids, user_id, at)
    if listener is not None and region is not None:
        listener = dataclasses.replace(listener, region=region.upper())
    results = []
    for track_id in track_ids:
        track = tracks.get(track_id)
        if listener is None or (track is None and why is not None):
            reason = why or "no facts"
            results.append(Playback(degraded(track_id, RETRY_AFTER_SECONDS, reason)))
            continue
        decision = decide(track, listener, quality, at, track_id)
        if why is not None:
            decision.explain.append(why)
        results.append(_sign(decision, listener, base_url, at))
    if any(_failed(r, why) for r in results):
        await affected.record(user_id)  # who an open incident affected: a Redis SADD
    return results


async def playback(
    user_id: int | None,
    track_id: int,
    quality: RequestedQuality = RequestedQuality.BEST,
    *,
    base_url: str,
    region: str | None = None,
) -> Playback:
    return (await playbacks(user_id, [track_id], quality, base_url=base_url, region=region))[0]


def _failed(result: Playback, why: str | None) -> bool:
    """A failed answer (for the incident's affected users): degraded, or not playable
    because the facts came from the cache."""
    outcome = result.decision.outcome
    return outcome == Outcome.SERVICE_DEGRADED or (why is not None and outcome != Outcome.PLAYABLE)


def _sign(decision: Decision, listener: ListenerFacts, base_url: str, at: datetime) -> Playback:
    if decision.outcome != Outcome.PLAYABLE or decision.rendition is None:
        return Playback(decision)
    assert listener.user_id is not None  # decide() asks anonymous viewers to log in
    url, expires_at = signed_url(
        decision.track_id,
        decision.rendition,
        listener.user_id,
        base_url=base_url,
        now=at,
        byte_range=decision.preview_bytes,
    )
    return Playback(decision, url, expires_at)
