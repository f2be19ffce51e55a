"""Issue #20 target: reported plays drained from the Redis stream into PostgreSQL by one
worker, 20,000 plays/s or more, exactly once.

``python -m bench.ingest_bench [--plays 300000] [--batch 5000] [--tracks 50000] [--users 100000]``

1. Creates (drops first) the PostgreSQL database ``ncm_bench_ingest``, applies the migrations
   (``play_events`` partitioned by day) and seeds ``--tracks`` tracks and ``--users`` users
   with ``seed_scale``; claims an empty Redis database.
2. Producer side: ``ingest.enqueue`` (the Lua script ``reportPlay`` runs: dedupe key,
   ``XADD``, the viewer's pending recent plays) from 32 concurrent tasks for ``--enqueue``
   plays: plays/s queued by one process (no HTTP, no GraphQL, no validation reads).
3. Fills the stream up to ``--plays`` entries (pipelined ``XADD``; 2% of them twice, as
   retried deliveries), plays spread over the users and over the tracks with a heavy head
   (a tenth of the plays on 20 tracks), started within the last hours.
4. One consumer (this process, one core) drains the stream with ``ingest.drain``: batches
   of ``--batch`` entries, each one ``INSERT ... SELECT FROM unnest(...) ON CONFLICT DO
   NOTHING`` into the partitioned table with the daily activity and the play count deltas in
   the same statement, then ``XACK``/``XDEL`` and the recent-plays cleanup; the deltas are
   folded into the tracks at the end (included in the time).
   Reports plays/s drained and checks exactness: rows = distinct plays, the sum of the
   tracks' play counts = counted plays, the sum of daily activity = plays.

The machine is shared (2 cores, other work running): figures are indicative; the load
average is printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness import recreate_database, redis_database

DB_NAME = "ncm_bench_ingest"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"


def load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    from ncm.kit.db import close_db, init_db
    from ncm.kit.migrate import upgrade
    from ncm.kit.redis import get_redis
    from ncm.kit.sql import fetch
    from ncm.seeding.scale import seed_scale
    from ncm.stream import ingest
    from ncm.stream.models import PlayEvent, PlaySource

    await recreate_database(DB_NAME)
    await upgrade()
    await init_db()
    out: dict[str, Any] = {}
    try:
        t = time.perf_counter()
        await seed_scale(tracks=args.tracks, users=args.users, seed=7)
        out["seed_seconds"] = round(time.perf_counter() - t, 1)
        tracks = [r["id"] for r in await fetch("SELECT id FROM tracks ORDER BY id")]
        users = [r["id"] for r in await fetch("SELECT id FROM users ORDER BY id")]
        await fetch("VACUUM ANALYZE tracks")
        seeded = await fetch("SELECT sum(play_count) AS n FROM tracks")
        seeded_plays = int(seeded[0]["n"] or 0)
        redis = await get_redis()
        assert redis is not None
        rng = random.Random(20)
        now = datetime.now(UTC)
        hot = tracks[:20]

        def play(n: int) -> PlayEvent:
            started = now - timedelta(seconds=rng.randrange(0, 6 * 3600))
            track = rng.choice(hot) if n % 10 == 0 else rng.choice(tracks)
            seconds = rng.choice((12, 35, 90, 180, 240))
            return PlayEvent(
                play_id=f"bench-{n:010d}",
                user_id=rng.choice(users),
                track_id=track,
                started_at=started,
                day=started.date(),
                seconds_played=seconds,
                counted=seconds >= 30,
                source=PlaySource.PLAYLIST,
                share_id=None,
            )

        # 2. producer: the report path's script from 32 tasks
        queue = [play(n) for n in range(args.enqueue)]
        t = time.perf_counter()

        async def producer(k: int) -> None:
            for p in queue[k::32]:
                await ingest.enqueue(p, now)

        await asyncio.gather(*(producer(k) for k in range(32)))
        took = time.perf_counter() - t
        out["enqueue_plays"] = args.enqueue
        out["enqueue_per_s"] = round(args.enqueue / took)
        out["enqueue_load"] = load()
        counted = sum(p.counted for p in queue)
        # 3. the rest straight onto the stream
        t = time.perf_counter()
        pipe = redis.pipeline(transaction=False)
        key = ingest.stream_key()
        duplicates = 0
        for n in range(args.enqueue, args.plays):
            p = play(n)
            counted += p.counted
            text = ingest.encode(p, now)
            pipe.xadd(key, {"p": text})
            if n % 50 == 0:
                pipe.xadd(key, {"p": text})
                duplicates += 1
            if n % 10_000 == 0:
                await pipe.execute()
                pipe = redis.pipeline(transaction=False)
        await pipe.execute()
        out["fill_seconds"] = round(time.perf_counter() - t, 1)
        out["stream_entries"] = int(await redis.xlen(key))
        out["duplicate_entries"] = duplicates
        # 4. one consumer drains
        os.environ["NCM_PLAY_FLUSH_BATCH"] = str(args.batch)
        from ncm.config import reset_settings

        reset_settings()
        t = time.perf_counter()
        drained = await ingest.drain("bench", max_batches=1_000_000)
        took = time.perf_counter() - t
        out["drain_seconds"] = round(took, 2)
        out["drain_batches"] = drained.batches
        out["drained_entries"] = drained.entries
        out["drain_plays_per_s"] = round(drained.inserted / took)
        out["drain_entries_per_s"] = round(drained.entries / took)
        out["drain_load"] = load()
        check = await fetch(
            "SELECT (SELECT count(*) FROM play_events) AS rows,"
            " (SELECT count(DISTINCT play_id) FROM play_events) AS ids,"
            " (SELECT sum(play_count) FROM tracks) - $1 AS counted,"
            " (SELECT sum(plays) FROM user_daily_activity) AS active",
            [seeded_plays],
        )
        got = {k: int(v or 0) for k, v in check[0].items()}
        out["exact"] = got == {
            "rows": args.plays,
            "ids": args.plays,
            "counted": counted,
            "active": args.plays,
        }
        out["check"] = got
        out["expected_counted"] = counted
        out["backlog_after"] = await ingest.backlog()
    finally:
        await close_db()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_bench", description=__doc__)
    parser.add_argument("--plays", type=int, default=300_000)
    parser.add_argument("--enqueue", type=int, default=20_000, help="plays queued by the script")
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--tracks", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=100_000)
    args = parser.parse_args()
    os.environ["NCM_DATABASE_URL"] = DATABASE_URL
    os.environ.setdefault("NCM_LOG_LEVEL", "WARNING")
    os.environ.setdefault("NCM_DATA_DIR", "/tmp/ncm-bench-ingest")
    with redis_database("auto") as redis_url:
        assert redis_url is not None
        os.environ["NCM_REDIS_URL"] = redis_url
        from ncm.config import reset_settings

        reset_settings()
        result = asyncio.run(_run(args))
    print(f"load before: {load()}")
    for k, v in result.items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    main()
