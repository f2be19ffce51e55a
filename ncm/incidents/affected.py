"""Who an incident affected, recorded without a database write per request.

Playback calls ``record(user_id)`` for every failed answer (``SERVICE_DEGRADED`` and other
failures). While an incident is open the user id goes into a Redis set per incident key
(``SADD``: O(1), no database), or into this process's memory on the embedded default. The
``flush_affected`` job moves the sets into ``incident_affected_users`` (set-based insert,
``ON CONFLICT DO NOTHING``), so a campaign can target exactly them.

An incident's key is its id (``i<id>``) or, for one the detector opened while the database
was down, the detector's key (``Incident.detector_key``), known before the row exists.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, cast

from ncm.kit.redis import get_redis, namespaced

log = logging.getLogger("ncm.incidents.affected")
REFRESH_SECONDS = 5.0  # how stale this process's list of open incidents may be
FLUSH_BATCH = 5000
REFRESH_TIMEOUT = 0.5

_memory: dict[str, set[int]] = {}
_open_keys: tuple[float, list[str]] = (0.0, [])
_extra_keys: set[str] = set()  # the detector's key while it has tripped


def key_of(incident_id: int) -> str:
    return f"i{incident_id}"


def _redis_key(key: str) -> str:
    return namespaced("incidents", f"affected:{key}")


def _index_key() -> str:
    return namespaced("incidents", "affected-keys")


def set_detector_key(key: str | None) -> None:
    _extra_keys.clear()
    if key:
        _extra_keys.add(key)


def forget_open() -> None:
    """Drop the cached list of open incidents (after opening or closing one)."""
    global _open_keys
    _open_keys = (0.0, [])


async def refresh_open() -> list[str]:
    """Reload the keys of the open incidents (at most every ``REFRESH_SECONDS``, in the
    background of ``record``; a database that does not answer keeps the last list)."""
    global _open_keys
    from ncm.incidents.models import Incident, IncidentStatus

    try:
        ids = await asyncio.wait_for(
            Incident.filter(status__in=[IncidentStatus.DETECTED, IncidentStatus.OPEN]).values_list(
                "id", flat=True
            ),
            REFRESH_TIMEOUT,
        )
        _open_keys = (time.monotonic(), [key_of(int(i)) for i in cast(list[Any], ids)])
    except Exception:
        _open_keys = (time.monotonic(), _open_keys[1])
    return _open_keys[1]


_refreshing: set[asyncio.Task[Any]] = set()


async def _current_keys() -> list[str]:
    """The open incidents' keys, from memory: a stale list is refreshed in the background,
    so a playback answer never waits on the database (which may be what is down)."""
    if time.monotonic() - _open_keys[0] >= REFRESH_SECONDS and not _refreshing:
        task = asyncio.get_running_loop().create_task(refresh_open())
        _refreshing.add(task)
        task.add_done_callback(_refreshing.discard)
    return [*_open_keys[1], *_extra_keys]


async def record(user_id: int | None) -> None:
    """Remember that ``user_id`` got a failed playback answer (no-op without an incident)."""
    if user_id is None:
        return
    keys = await _current_keys()
    if not keys:
        return
    try:
        redis: Any = await get_redis()
        if redis is None:
            for key in keys:
                _memory.setdefault(key, set()).add(user_id)
            from ncm.incidents.jobs import schedule_flush  # lazy: the jobs flush this module

            await schedule_flush()
            return
        pipe = redis.pipeline(transaction=False)
        for key in keys:
            pipe.sadd(_redis_key(key), user_id)
            pipe.sadd(_index_key(), key)
        await pipe.execute()
    except Exception:  # recording must never break a playback answer
        log.warning("could not record an affected user", exc_info=True)


async def pending(key: str) -> set[int]:
    """The user ids recorded under ``key`` and not flushed yet (tests, status)."""
    redis: Any = await get_redis()
    if redis is None:
        return set(_memory.get(key, set()))
    return {int(x) for x in await redis.smembers(_redis_key(key))}


async def flush() -> int:
    """Move every recorded set into ``incident_affected_users``; returns rows inserted.
    Safe to run concurrently and again: inserts are idempotent and a member leaves the set
    only after its rows committed."""
    from ncm.incidents.models import Incident

    redis: Any = await get_redis()
    keys: list[str] = (
        sorted(_memory)
        if redis is None
        else sorted(
            x.decode() if isinstance(x, bytes) else x for x in await redis.smembers(_index_key())
        )
    )
    inserted = 0
    for key in keys:
        incident_id = await _incident_for(key, Incident)
        if incident_id is None:
            continue  # a detector key whose incident is not written yet
        while True:
            batch = await _take(redis, key)
            if not batch:
                break
            inserted += await _insert(incident_id, batch)
            await _done(redis, key, batch)
        if redis is not None and not await redis.exists(_redis_key(key)):
            await redis.srem(_index_key(), key)
        await _recount(incident_id)
    return inserted


async def _incident_for(key: str, incident_model: Any) -> int | None:
    if key.startswith("i") and key[1:].isdigit():
        return int(key[1:])
    found = await incident_model.filter(detector_key=key).first()
    if found is None:
        return None
    return int(found.merged_into_id or found.id)


async def _take(redis: Any, key: str) -> list[int]:
    if redis is None:
        members = _memory.get(key, set())
        return sorted(members)[:FLUSH_BATCH]
    raw = await redis.srandmember(_redis_key(key), FLUSH_BATCH)
    return [int(x) for x in raw or []]


async def _done(redis: Any, key: str, batch: list[int]) -> None:
    if redis is None:
        members = _memory.get(key, set())
        members.difference_update(batch)
        if not members:
            _memory.pop(key, None)
        return
    await redis.srem(_redis_key(key), *batch)


async def _insert(incident_id: int, user_ids: list[int]) -> int:
    from tortoise import connections

    from ncm.kit.db import is_postgres

    conn = connections.get("default")
    if is_postgres():
        rows = await conn.execute_query_dict(
            "WITH ins AS (INSERT INTO incident_affected_users (incident_id, user_id)"
            " SELECT $1, u FROM unnest($2::bigint[]) AS u"
            " ON CONFLICT (incident_id, user_id) DO NOTHING RETURNING 1)"
            " SELECT count(*) AS n FROM ins",
            [incident_id, user_ids],
        )
        return int(rows[0]["n"])
    marks = ", ".join("(?, ?)" for _ in user_ids)
    params: list[Any] = [x for u in user_ids for x in (incident_id, u)]
    count, _ = await conn.execute_query(
        f"INSERT INTO incident_affected_users (incident_id, user_id) VALUES {marks}"
        " ON CONFLICT (incident_id, user_id) DO NOTHING",
        params,
    )
    return int(count)


async def _recount(incident_id: int) -> None:
    from ncm.incidents.models import AffectedUser, Incident

    count = await AffectedUser.filter(incident_id=incident_id).count()
    await Incident.filter(id=incident_id).update(affected_count=count)


def forget_all() -> None:
    """Tests: forget this process's memory."""
    _memory.clear()
    set_detector_key(None)
    forget_open()
