"""arq worker settings: ``ncm worker`` (or ``arq ncm.worker.WorkerSettings``)."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from arq import cron
from arq.connections import RedisSettings

from ncm.config import get_settings
from ncm.domains import load_jobs
from ncm.kit import partitions  # noqa: F401  (registers the partition maintenance cron job)
from ncm.kit.db import close_db, init_db
from ncm.kit.jobs import CRONS, JOBS, LOOPS
from ncm.kit.observability import configure_logging

load_jobs()


async def startup(ctx: dict[str, Any]) -> None:
    configure_logging()
    await init_db()
    ctx["loops"] = [asyncio.create_task(loop()) for loop in LOOPS]


async def shutdown(ctx: dict[str, Any]) -> None:
    for task in ctx.get("loops", []):
        task.cancel()
    await asyncio.gather(*ctx.get("loops", []), return_exceptions=True)
    await close_db()


def redis_settings() -> RedisSettings:
    url = get_settings().redis_url
    if url is None:
        raise RuntimeError("ncm worker needs NCM_REDIS_URL (without it jobs run in-process)")
    return RedisSettings.from_dsn(url)


class WorkerSettings:
    functions: ClassVar[list[Any]] = list(JOBS.values())
    cron_jobs: ClassVar[list[Any]] = [
        cron(spec.func, minute=spec.minute, hour=spec.hour, run_at_startup=False)  # type: ignore[arg-type]
        for spec in CRONS
    ]
    on_startup = startup
    on_shutdown = shutdown
    max_jobs = 20
    job_timeout = 300
    keep_result = 3600
