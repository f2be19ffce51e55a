"""Access tokens of ended sessions stop working on every server process within seconds.

An access token is checked without a database read (a signed JWT, 15 minutes by default),
so logging out used to leave the current one valid until it expired. Now ``logout`` and
``logoutEverywhere`` record the session ids, each until the last token it can have issued
has expired, and ``read_access_token`` refuses them:

* in this process at once (an in-memory map of session id to expiry);
* in the other processes through a Redis sorted set (member: session id, score: expiry),
  which each server process polls every :data:`REFRESH_SECONDS` from a background task
  (:func:`keep_fresh`). A poll asks only for entries newer than the last one seen, so its
  cost does not grow with the number of revoked sessions, and checking a token stays a
  dictionary lookup with no round trip.

Without Redis (the embedded default, one process), the in-memory map is the whole story.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from ncm.config import get_settings
from ncm.kit import poll
from ncm.kit.redis import get_redis, namespaced

log = logging.getLogger("ncm.accounts")
REFRESH_SECONDS = 2.0
# A revoked session outlives its last token by this much (clocks differ between machines).
EXPIRY_SLACK_SECONDS = 30.0
# Each poll reads again what was added this long before the newest entry it has seen, so a
# process whose clock runs a little behind, or a write that lands late, is not missed.
OVERLAP_SECONDS = 5.0

_revoked: dict[int, float] = {}
_newest_seen = 0.0


def _key() -> str:
    return namespaced("revoked", "sessions")


def is_revoked(session_id: int) -> bool:
    until = _revoked.get(session_id)
    return until is not None and until > time.time()


async def revoke(session_ids: Sequence[int]) -> None:
    """Refuse the access tokens of these sessions from now until they would have expired."""
    if not session_ids:
        return
    now = time.time()
    until = now + get_settings().access_token_ttl + EXPIRY_SLACK_SECONDS
    for session_id in session_ids:
        _revoked[session_id] = until
    redis = await get_redis()
    if redis is None:
        return
    pipe = redis.pipeline(transaction=True)
    pipe.zadd(_key(), {str(s): until for s in session_ids})
    pipe.zremrangebyscore(_key(), "-inf", now)
    await pipe.execute()


async def refresh() -> None:
    """Take in the revocations other processes recorded since the last call."""
    global _newest_seen
    redis = await get_redis()
    now = time.time()
    for session_id in [s for s, until in _revoked.items() if until <= now]:
        del _revoked[session_id]
    if redis is None:
        return
    since = max(now, _newest_seen - OVERLAP_SECONDS)
    for member, until in await redis.zrangebyscore(_key(), since, "+inf", withscores=True):
        _revoked[int(member)] = max(float(until), _revoked.get(int(member), 0.0))
        _newest_seen = max(_newest_seen, float(until))


async def keep_fresh() -> None:
    """Poll for other processes' revocations for the life of the server."""
    await poll.every(REFRESH_SECONDS, refresh, failing="read revoked sessions", log=log)


def forget_all() -> None:
    """For tests: this process knows of no revocations."""
    global _newest_seen
    _revoked.clear()
    _newest_seen = 0.0
