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

from ncm.kit.redis import get_redis, namespaced

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
_woken: dict[str, asyncio.Task[Any]] = {}  # in-process: the woken run of each drain


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
    _start_in_process(name, job_id, args)
    return job_id


def _start_in_process(name: str, job_id: str, args: tuple[Any, ...]) -> asyncio.Task[Any]:
    task = asyncio.create_task(_run_in_process(name, job_id, args))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


async def wake(func: JobFunc | str, *, ttl: int = 60) -> bool:
    """Wake a drain: enqueue ``func`` (a job without arguments that does whatever work is
    pending, e.g. ``process_stripe_events``) unless a woken run of it has not started yet.
    Returns whether a run was enqueued.

    The drain calls :func:`woke` before it looks for work, so work committed before a wake
    is always seen: either this wake enqueues a run, or a run woken earlier has yet to start
    (and look). A burst of wakes costs one run. With Redis the mark is shared by every
    process and lives ``ttl`` seconds at most (a run lost with its queue delays the next
    wake that long, no more); in-process it is the queued task itself.
    """
    name = func if isinstance(func, str) else func.__name__
    if name not in JOBS:
        raise KeyError(f"unknown job {name!r}")
    redis = await get_redis()
    if redis is None:
        queued = _woken.get(name)
        if (
            queued is not None
            and not queued.done()
            and queued.get_loop() is asyncio.get_running_loop()
        ):
            return False
        _woken[name] = _start_in_process(name, uuid.uuid4().hex, ())
        return True
    mark = namespaced("wake", name)
    if not await redis.set(mark, "1", nx=True, ex=ttl):
        return False
    try:
        await redis.enqueue_job(name, _job_id=uuid.uuid4().hex)
    except BaseException:
        await redis.delete(mark)
        raise
    return True


async def woke(func: JobFunc | str) -> None:
    """A woken drain calls this first thing: the next :func:`wake` enqueues another run."""
    name = func if isinstance(func, str) else func.__name__
    redis = await get_redis()
    if redis is None:
        _woken.pop(name, None)
    else:
        await redis.delete(namespaced("wake", name))


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
