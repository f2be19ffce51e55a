from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ncm.accounts.models import RefreshToken
from ncm.kit import jobs
from tests.conftest import BACKEND, make_user


async def _expired_and_live_tokens() -> None:
    user = await make_user("jobs")
    now = datetime.now(UTC)
    await RefreshToken.create(user=user, token_hash="a" * 64, expires_at=now - timedelta(days=30))
    await RefreshToken.create(user=user, token_hash="b" * 64, expires_at=now + timedelta(days=30))


async def test_unknown_job_is_refused() -> None:
    with pytest.raises(KeyError):
        await jobs.enqueue("no_such_job")


def test_every_domain_job_is_in_the_worker() -> None:
    from ncm.worker import WorkerSettings

    names = {f.__name__ for f in WorkerSettings.functions}
    assert "purge_expired_sessions" in names
    assert names == set(jobs.JOBS)
    assert WorkerSettings.cron_jobs


@pytest.mark.skipif(BACKEND != "sqlite", reason="the embedded default runs jobs in-process")
async def test_in_process_job_runs_without_redis() -> None:
    await _expired_and_live_tokens()
    await jobs.enqueue("purge_expired_sessions")
    await jobs.drain()
    assert await RefreshToken.all().values_list("token_hash", flat=True) == ["b" * 64]


@pytest.mark.postgres_only
async def test_arq_worker_runs_enqueued_job_once_per_job_id() -> None:
    from arq.worker import Worker

    from ncm.kit.redis import get_redis
    from ncm.worker import WorkerSettings

    await _expired_and_live_tokens()
    first = await jobs.enqueue("purge_expired_sessions", job_id="purge-test")
    second = await jobs.enqueue("purge_expired_sessions", job_id="purge-test")
    assert first == second == "purge-test"
    redis = await get_redis()
    assert redis is not None
    assert len(await redis.queued_jobs()) == 1  # the second enqueue was deduplicated

    worker = Worker(
        functions=WorkerSettings.functions,
        redis_pool=redis,
        burst=True,
        handle_signals=False,
        poll_delay=0.01,
    )
    await worker.main()
    assert worker.jobs_complete == 1 and worker.jobs_failed == 0
    assert await RefreshToken.all().values_list("token_hash", flat=True) == ["b" * 64]


async def test_a_burst_of_wakes_queues_one_run_until_it_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ncm.kit.redis import get_redis

    runs: list[int] = []

    async def tidy(ctx: dict[str, object]) -> None:
        await jobs.woke("tidy")
        runs.append(len(runs))

    monkeypatch.setitem(jobs.JOBS, "tidy", tidy)
    assert [await jobs.wake("tidy") for _ in range(3)] == [True, False, False]
    redis = await get_redis()
    if redis is None:
        await jobs.drain()  # the run starts: the next wake queues another
        assert runs == [0]
    else:
        assert len(await redis.queued_jobs()) == 1
        await jobs.woke("tidy")  # what the run does first thing
    assert await jobs.wake("tidy") is True
    assert await jobs.wake("tidy") is False
    if redis is None:
        await jobs.drain()
        assert runs == [0, 1]
    else:
        assert len(await redis.queued_jobs()) == 2
    with pytest.raises(KeyError):
        await jobs.wake("no_such_job")
