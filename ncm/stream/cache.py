"""The degraded-mode cache: the facts of tracks and listeners seen recently, kept for
``NCM_PLAYBACK_CACHE_TTL`` seconds in Redis (in process memory without Redis).

Facts are cached, not decisions: a decision from cached facts still gets a fresh signed URL
and the current time for license windows.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence

from ncm.kit.redis import get_redis
from ncm.stream.decision import ListenerFacts, TrackFacts

log = logging.getLogger("ncm.stream")
REDIS_TIMEOUT = 0.5
_memory: dict[str, tuple[float, str]] = {}


class CacheUnavailable(RuntimeError):
    pass


def _track_key(track_id: int) -> str:
    return f"ncm:pb:t:{track_id}"


def _user_key(user_id: int) -> str:
    return f"ncm:pb:u:{user_id}"


async def remember(tracks: Sequence[TrackFacts], listener: ListenerFacts | None, ttl: int) -> None:
    """Write-through after a successful load; a cache failure never fails the request."""
    items = {_track_key(t.id): json.dumps(t.to_json()) for t in tracks}
    if listener is not None and listener.user_id is not None:
        items[_user_key(listener.user_id)] = json.dumps(listener.to_json())
    if not items:
        return
    try:
        redis = await get_redis()
        if redis is None:
            expires = time.monotonic() + ttl
            _memory.update({k: (expires, v) for k, v in items.items()})
            return
        pipe = redis.pipeline(transaction=False)
        for key, value in items.items():
            pipe.set(key, value, ex=ttl)
        await asyncio.wait_for(pipe.execute(), REDIS_TIMEOUT)
    except Exception as exc:  # the cache is an optimisation for bad days
        log.warning("playback cache write failed: %s", type(exc).__name__)


async def recall(
    track_ids: Sequence[int], user_id: int | None
) -> tuple[dict[int, TrackFacts], ListenerFacts | None]:
    """What the cache still knows; :class:`CacheUnavailable` if it cannot be read at all."""
    keys = [_track_key(t) for t in track_ids]
    if user_id is not None:
        keys.append(_user_key(user_id))
    try:
        redis = await get_redis()
        if redis is None:
            now = time.monotonic()
            values = [
                v if (e := _memory.get(k)) and (v := e[1]) and e[0] > now else None for k in keys
            ]
        else:
            values = await asyncio.wait_for(redis.mget(keys), REDIS_TIMEOUT)
    except Exception as exc:
        raise CacheUnavailable(type(exc).__name__) from exc
    tracks: dict[int, TrackFacts] = {}
    for track_id, raw in zip(track_ids, values, strict=False):
        if raw is not None:
            tracks[track_id] = TrackFacts.from_json(json.loads(raw))
    listener = None
    if user_id is None:
        listener = ListenerFacts(None, None)
    elif values[-1] is not None:
        listener = ListenerFacts.from_json(json.loads(values[-1]))
    return tracks, listener


def clear_memory() -> None:
    _memory.clear()
