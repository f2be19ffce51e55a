"""Background jobs: one ``enqueue`` for every domain.

Domains register their arq functions with ``@job`` (and periodic ones with ``@cron_job``).
With Redis configured, ``enqueue`` hands the job to arq and ``ncm worker`` runs it; on the
embedded default it runs in this process as a task. Either way a job may run more than once,
so every job is idempotent and takes ids, not rows.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from ncm.kit.redis import get_redis

log = logging.getLogger("ncm.kit.jobs")

JobFunc = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class CronSpec:
    func: JobFunc
    minute: set[int] | None
    hour: set[int] | None


JOBS: dict[str, JobFunc] = {}
CRONS: list[CronSpec] = []
LOOPS: list[Callable[[], Coroutine[Any, Any, None]]] = []
_tasks: set[asyncio.Task[Any]] = set()


def job(func: JobFunc) -> JobFunc:
    """Register an arq job: ``async def name(ctx, *args)``."""
    JOBS[func.__name__] = func
    return func


def cron_job(
    *, minute: set[int] | None = None, hour: set[int] | None = None
) -> Callable[[JobFunc], JobFunc]:
    def register(func: JobFunc) -> JobFunc:
        job(func)
        CRONS.append(CronSpec(func, minute, hour))
        return func

    return register


def worker_loop(
    func: Callable[[], Coroutine[Any, Any, None]],
) -> Callable[[], Coroutine[Any, Any, None]]:
    """Register a coroutine that ``ncm worker`` runs for its whole life beside the jobs (a
    stream consumer); it is cancelled at shutdown. The embedded default runs none."""
    LOOPS.append(func)
    return func


async def enqueue(func: JobFunc | str, *args: Any, job_id: str | None = None) -> str:
    """Run ``func(ctx, *args)`` in the background; returns the job id.

    ``job_id`` deduplicates: arq keeps one job per id while it is queued or its result lives.
    Call this after the transaction that wrote the job's input has committed.
    """
    name = func if isinstance(func, str) else func.__name__
    if name not in JOBS:
        raise KeyError(f"unknown job {name!r}")
    job_id = job_id or uuid.uuid4().hex
    redis = await get_redis()
    if redis is not None:
        await redis.enqueue_job(name, *args, _job_id=job_id)
        return job_id
    task = asyncio.create_task(_run_in_process(name, job_id, args))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return job_id


async def _run_in_process(name: str, job_id: str, args: tuple[Any, ...]) -> None:
    ctx: dict[str, Any] = {"job_id": job_id, "job_try": 1, "redis": None}
    try:
        await JOBS[name](ctx, *args)
    except Exception:
        log.exception("in-process job failed", extra={"job": name, "job_id": job_id})


async def drain() -> None:
    """Wait for every in-process job of this event loop (tests, and a clean shutdown of the
    embedded default)."""
    loop = asyncio.get_running_loop()
    while mine := [task for task in _tasks if task.get_loop() is loop]:
        await asyncio.gather(*mine, return_exceptions=True)
