"""A real ``ncm`` worker process for crash tests: started against the test database and
Redis, SIGKILLed when the block ends (wherever it is)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator

WORKER = (
    "from arq import run_worker\n"
    "from ncm.worker import WorkerSettings, redis_settings\n"
    "WorkerSettings.max_jobs = 1\n"
    "WorkerSettings.cron_jobs = []\n"
    "run_worker(WorkerSettings, redis_settings=redis_settings())\n"
)


@contextlib.asynccontextmanager
async def killed_worker(**env: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """A worker with ``env`` added (test seams such as pauses inside a transaction), killed
    with SIGKILL when the block exits."""
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WORKER,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield worker
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        await asyncio.wait_for(worker.wait(), 30)
