"""Incidents the playback breaker opens by itself.

When playback's degraded mode trips (the database is unavailable, ``ncm.stream.service``),
``tripped()`` marks this process degraded at once (no I/O: the database is what failed) and
a background task writes a DETECTED incident as soon as the database answers (or adopts the
one another process opened). ``recovered()`` (the next good database read) closes it. An
operator confirms it (``ncm incidents confirm``) or merges it into their own incident.

Users who get failed answers meanwhile are recorded under the detector's key, which the
incident row carries (``detector_key``), so none are lost while the row cannot be written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ncm.incidents import affected

log = logging.getLogger("ncm.incidents.detector")
RETRY_SECONDS = 1.0
TITLE = "Playback degraded: some songs cannot start"


@dataclass
class _State:
    key: str
    started_at: datetime
    reason: str
    ended_at: datetime | None = None
    incident_id: int | None = None


_state: _State | None = None
_task: asyncio.Task[Any] | None = None


def is_tripped() -> bool:
    return _state is not None and _state.ended_at is None


def tripped(reason: str) -> None:
    """The breaker tripped: cheap and synchronous; the incident is written in the background."""
    global _state
    if _state is not None and _state.ended_at is None:
        return
    if _state is not None and _state.incident_id is None:
        _state.ended_at = None  # tripped again before the last one was even written
    else:
        key = f"auto-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        _state = _State(key=key, started_at=datetime.now(UTC), reason=reason[:500])
    affected.set_detector_key(_state.key)
    _kick()


def recovered() -> None:
    """The database answered again: close the detected incident (in the background)."""
    if _state is None or _state.ended_at is not None:
        return
    _state.ended_at = datetime.now(UTC)
    _kick()


def _kick() -> None:
    global _task
    if _task is None or _task.done():
        from ncm.kit import jobs

        _task = asyncio.get_running_loop().create_task(_sync())
        # tracked with the in-process jobs, so ``jobs.drain()`` (shutdown, tests) waits for it
        jobs._tasks.add(_task)
        _task.add_done_callback(jobs._tasks.discard)


async def settle() -> None:
    """Wait for the background writes (tests, shutdown)."""
    if _task is not None:
        await asyncio.gather(_task, return_exceptions=True)


def reset() -> None:
    global _state, _task
    _state, _task = None, None
    affected.set_detector_key(None)


async def _sync() -> None:
    global _state
    while _state is not None:
        state = _state
        try:
            if state.incident_id is None:
                state.incident_id = await _open(state)
                affected.set_detector_key(
                    None if state.ended_at else affected.key_of(state.incident_id)
                )
                affected.forget_open()
            if state.ended_at is not None:
                await _close(state)
                if _state is state:
                    _state = None
                    affected.set_detector_key(None)
                return
            return
        except Exception as exc:
            from ncm.kit.db import is_unavailable

            if not is_unavailable(exc):
                log.exception("could not record the detected incident")
                return
            await asyncio.sleep(RETRY_SECONDS)


async def _open(state: _State) -> int:
    """The live detected playback incident (another process's) or a new one."""
    from tortoise.transactions import in_transaction

    from ncm.incidents import service
    from ncm.incidents.models import Component, Incident, IncidentStatus
    from ncm.kit.locks import lock_for_transaction

    async with in_transaction() as conn:
        await lock_for_transaction(conn, "ncm.incidents.detector", 1)
        found = (
            await Incident.filter(
                component=Component.PLAYBACK,
                status__in=[IncidentStatus.DETECTED, IncidentStatus.OPEN],
                detector_key__isnull=False,
            )
            .using_db(conn)
            .order_by("-id")
            .first()
        )
        if found is None:
            found = await Incident.create(
                title=TITLE,
                component=Component.PLAYBACK,
                status=IncidentStatus.DETECTED,
                started_at=state.started_at,
                detector_key=state.key,
                opened_by="detector",
                using_db=conn,
            )
    service.invalidate_status()
    if found.detector_key != state.key:
        await _move(state.key, affected.key_of(found.id))
    log.warning("playback degraded: incident %s detected (%s)", found.id, state.reason)
    return int(found.id)


async def _move(src: str, dst: str) -> None:
    """Users recorded under our key join the adopted incident's set."""
    from ncm.kit.redis import get_redis

    redis: Any = await get_redis()
    if redis is None:
        moved = affected._memory.pop(src, set())
        if moved:
            affected._memory.setdefault(dst, set()).update(moved)
        return
    a, b = affected._redis_key(src), affected._redis_key(dst)
    await redis.sunionstore(b, [b, a])
    await redis.delete(a)
    await redis.sadd(affected._index_key(), dst)


async def _close(state: _State) -> None:
    from ncm.errors import NotFound
    from ncm.incidents import service

    assert state.incident_id is not None and state.ended_at is not None
    with contextlib.suppress(NotFound):  # deleted meanwhile: nothing to close
        await service.close(state.incident_id, state.ended_at, by="detector")
    affected.forget_open()
