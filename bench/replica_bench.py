"""Replica lag under a comment write load, and the read share that moves off the primary.

``python -m bench.replica_bench`` creates a throwaway primary and streaming standby
(``bench/pgcluster.py``, free ports, a temp folder; the machine's cluster is not touched),
migrates and seeds it, then:

1. **Lag under writes**: posts comments through the service layer (``post_comment``: the row
   and its counters in one transaction, as the API does) at ``--rate`` per second for
   ``--seconds``, and samples the standby's replay lag every 100 ms (``pg_stat_replication``
   on the primary, and what ``ncm.kit.replica`` measures on the standby).
2. **Read share**: drives a mix of GraphQL operations (track pages, comment pages, search,
   public profiles; the viewer's library, playback decisions and comment posts, which stay on
   the primary) through the app with the replica configured, and counts where the
   statements ran (``pg_stat_database.xact_commit`` on each server) and where the operations
   were routed.

Run under ``flock /tmp/ncm-heavy.lock``; it removes the pair when it ends.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from typing import Any

import asyncpg

from bench.pgcluster import Pair, create_pair

DATABASE = "ncm_bench_replica"

MIX: list[tuple[str, int]] = [
    ("track", 30),
    ("comments", 25),
    ("search", 10),
    ("profile", 10),
    ("library", 10),
    ("playback", 10),
    ("post", 5),
]
TRACK = "query($id: ID!) { track(id: $id) { title album { title } artists { name } } }"
COMMENTS = """query($t: ID!) { comments(threadId: $t, first: 20) {
  edges { node { body likeCount author { handle } } } } }"""
SEARCH = "query($q: String!) { search(query: $q, first: 10) { edges { node { __typename } } } }"
PROFILE = "query($id: ID!) { user(id: $id) { handle } }"
LIBRARY = "{ viewer { likedSongs { title } } }"
PLAYBACK = "query($id: ID!) { playback(trackId: $id) { __typename } }"
POST = """mutation($input: PostCommentInput!) { postComment(input: $input) { __typename } }"""


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def prepare(pair: Pair, tracks: int, users: int) -> None:
    from ncm.kit.db import init_db
    from ncm.kit.migrate import upgrade
    from ncm.seeding.catalog import seed_catalog

    conn = await asyncpg.connect(pair.primary.url())
    await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    await conn.close()
    started = time.perf_counter()
    await upgrade()
    await init_db()
    await seed_catalog(tracks=tracks, users=users)
    took = time.perf_counter() - started
    print(f"migrated and seeded {tracks:,} tracks, {users:,} users in {took:.1f} s")


async def lag_sampler(pair: Pair, stop: asyncio.Event, out: dict[str, list[float]]) -> None:
    from ncm.kit.replica import LAG_SQL

    primary = await asyncpg.connect(pair.primary.url(DATABASE))
    standby = await asyncpg.connect(pair.standby.url(DATABASE))
    try:
        while not stop.is_set():
            row = await primary.fetchrow(
                "SELECT extract(epoch FROM replay_lag) AS replay,"
                " pg_wal_lsn_diff(pg_current_wal_insert_lsn(), replay_lsn) AS bytes"
                " FROM pg_stat_replication"
            )
            if row is not None:
                out["replay_lag"].append(float(row["replay"] or 0))
                out["bytes_behind"].append(float(row["bytes"] or 0))
            out["measured_lag"].append(float(await standby.fetchval(LAG_SQL) or 0))
            await asyncio.sleep(0.1)
    finally:
        await primary.close()
        await standby.close()


async def post_share(
    rate: float, seconds: float, writer: int, writers: int, start_at: float
) -> dict[str, Any]:
    """Post this writer's share of the load: every ``writers``-th comment from ``writer`` on,
    at ``rate / writers`` per second from the wall-clock time ``start_at``, through the service
    layer. Latencies in seconds."""
    from ncm.accounts.models import User
    from ncm.catalog.models import Track
    from ncm.comments import service
    from ncm.comments.models import TargetType
    from ncm.comments.targets import ThreadRef

    authors = await User.all().order_by("id").limit(1000)
    threads = [
        ThreadRef(TargetType.TRACK, pk)
        for pk in await Track.all().order_by("id").limit(200).values_list("id", flat=True)
    ]
    limit = asyncio.Semaphore(64)
    latencies: list[float] = []
    errors: dict[str, int] = {}

    async def post(i: int) -> None:
        async with limit:
            began = time.perf_counter()
            try:
                await service.post_comment(
                    authors[i % len(authors)], threads[i % len(threads)], f"load comment {i}"
                )
            except Exception as error:
                errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
            latencies.append(time.perf_counter() - began)

    own = range(writer, int(rate * seconds), writers)
    tasks = []
    await asyncio.sleep(max(0.0, start_at - time.time()))  # every writer starts together
    began_at = time.time()
    started = time.perf_counter()
    for i in own:
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post(i)))
    await asyncio.gather(*tasks)
    failed = sum(errors.values())
    return {
        "posted": len(own) - failed,
        "errors": errors,
        "latencies": latencies,
        "began_at": began_at,
        "ended_at": time.time(),
    }


async def _writer_process(
    rate: float, seconds: float, writer: int, writers: int, start_at: float
) -> list[str]:
    """Start one more posting process (``--writer``); its result arrives as JSON lines."""
    import sys

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.replica_bench",
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
        "--writer",
        f"{writer}/{writers}/{start_at}",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    return out.decode().splitlines()


async def write_load(pair: Pair, rate: float, seconds: float, writers: int = 1) -> dict[str, Any]:
    import json

    samples: dict[str, list[float]] = {"replay_lag": [], "bytes_behind": [], "measured_lag": []}
    stop = asyncio.Event()
    start_at = time.time() + (5 if writers > 1 else 0)  # time for the others to start

    async def sample_from_the_start() -> None:
        # An idle standby's measured lag grows with the time since the last commit: sampling
        # starts with the writes (0.2 s in, once the first posts have been replayed).
        await asyncio.sleep(max(0.0, start_at + 0.2 - time.time()))
        await lag_sampler(pair, stop, samples)

    sampler = asyncio.create_task(sample_from_the_start())
    others = [_writer_process(rate, seconds, w, writers, start_at) for w in range(1, writers)]
    results = await asyncio.gather(post_share(rate, seconds, 0, writers, start_at), *others)
    shares = [results[0]] + [json.loads(lines[-1]) for lines in results[1:]]
    # From the first post of any writer to the last (a process's start-up is not counted).
    elapsed = max(s["ended_at"] for s in shares) - min(s["began_at"] for s in shares)
    latencies = [x for share in shares for x in share["latencies"]]
    posted = sum(share["posted"] for share in shares)
    errors: dict[str, int] = {}
    for share in shares:
        for name, count in share["errors"].items():
            errors[name] = errors.get(name, 0) + count
    await asyncio.sleep(1)  # the tail of the lag after the last commit
    stop.set()
    await sampler
    return {
        "writers": writers,
        "posted": posted,
        "errors": errors,
        "seconds": round(elapsed, 1),
        "rate": round(posted / elapsed),
        "post_p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "post_p99_ms": round(percentile(latencies, 99) * 1000, 1),
        **{
            f"{name}_{stat}": round(fn(values) * (1000 if name != "bytes_behind" else 1), 1)
            for name, values in samples.items()
            for stat, fn in (
                ("p50", lambda v: percentile(v, 50)),
                ("p99", lambda v: percentile(v, 99)),
                ("max", lambda v: max(v) if v else float("nan")),
            )
        },
    }


async def writer_main(
    rate: float, seconds: float, writer: int, writers: int, start_at: float
) -> None:
    """A posting process started by ``write_load``: the environment names the primary."""
    import json

    from ncm.kit.db import close_db, init_db

    await init_db()
    try:
        share = await post_share(rate, seconds, writer, writers, start_at)
    finally:
        await close_db()
    print(json.dumps(share))


async def commits(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        value = await conn.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = $1", DATABASE
        )
        return int(value)
    finally:
        await conn.close()


async def read_mix(pair: Pair, seconds: float, concurrency: int) -> dict[str, Any]:
    import httpx

    from ncm.accounts import service as accounts
    from ncm.accounts.models import User
    from ncm.app import create_app
    from ncm.catalog.models import Track
    from ncm.comments.models import TargetType
    from ncm.comments.targets import ThreadRef
    from ncm.kit import replica
    from ncm.schema.base import to_global_id

    users = await User.all().limit(40)
    tokens = []
    for user in users[:20]:
        session = await accounts.login(user.handle, "bench-password-1", client_ip="192.0.2.1")
        tokens.append(session.access_token)
    track_ids = await Track.all().limit(500).values_list("id", flat=True)
    words = ["love", "night", "rain", "blue", "sun", "dream", "city", "moon"]
    names, weights = zip(*MIX, strict=True)
    app = create_app(manage_db=False)
    counts: dict[str, int] = dict.fromkeys(names, 0)
    failures = 0

    def request(kind: str) -> tuple[str, dict[str, Any], str | None]:
        track = to_global_id("Track", random.choice(track_ids))
        ref = ThreadRef(TargetType.TRACK, random.choice(track_ids))
        thread = to_global_id("CommentThread", ref.key)
        token = random.choice(tokens)
        # Logged-in listeners send their token with every request (their own writes then
        # keep their reads on the primary for NCM_REPLICA_STICKY_MS); a third are anonymous.
        reader = token if random.random() < 2 / 3 else None
        if kind == "track":
            return TRACK, {"id": track}, reader
        if kind == "comments":
            return COMMENTS, {"t": thread}, reader
        if kind == "search":
            return SEARCH, {"q": random.choice(words)}, reader
        if kind == "profile":
            return PROFILE, {"id": to_global_id("User", random.choice(users).id)}, reader
        if kind == "library":
            return LIBRARY, {}, token
        if kind == "playback":
            return PLAYBACK, {"id": track}, token
        body = {"threadId": thread, "body": "from the read mix"}
        return POST, {"input": body}, token

    before = {name: replica.ROUTED.labels(name)._value.get() for name in _TARGETS}
    primary_before = await commits(pair.primary.url(DATABASE))
    standby_before = await commits(pair.standby.url(DATABASE))
    deadline = time.perf_counter() + seconds
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        async def user_loop() -> None:
            nonlocal failures
            while time.perf_counter() < deadline:
                kind = random.choices(names, weights)[0]
                query, variables, token = request(kind)
                headers = {"authorization": f"Bearer {token}"} if token else {}
                response = await client.post(
                    "/graphql", json={"query": query, "variables": variables}, headers=headers
                )
                counts[kind] += 1
                if response.status_code != 200 or "errors" in response.json():
                    failures += 1

        await asyncio.gather(*(user_loop() for _ in range(concurrency)))
    await asyncio.sleep(0.6)  # the statistics collector's flush
    primary_xacts = await commits(pair.primary.url(DATABASE)) - primary_before
    standby_xacts = await commits(pair.standby.url(DATABASE)) - standby_before
    routed = {name: replica.ROUTED.labels(name)._value.get() - before[name] for name in _TARGETS}
    operations = sum(counts.values())
    tolerant = sum(routed.values())
    return {
        "operations": operations,
        "ops_per_s": round(operations / seconds),
        "failures": failures,
        "mix": counts,
        "routed": routed,
        "lag_tolerant_share": round(tolerant / operations, 3) if operations else 0,
        "routed_to_replica_share": round(routed["replica"] / operations, 3) if operations else 0,
        "primary_xacts": primary_xacts,
        "standby_xacts": standby_xacts,
        "statement_share_on_replica": round(standby_xacts / (primary_xacts + standby_xacts), 3)
        if primary_xacts + standby_xacts
        else 0,
    }


_TARGETS = ("replica", "primary_fallback", "primary_own_writes")


async def run(args: argparse.Namespace) -> None:
    pair = create_pair()
    try:
        os.environ["NCM_DATABASE_URL"] = pair.primary.url(DATABASE, maxsize="20")
        os.environ["NCM_DATABASE_REPLICA_URL"] = pair.standby.url(DATABASE, maxsize="20")
        os.environ["NCM_COMMENT_RATE_PER_MINUTE"] = str(10**9)
        os.environ["NCM_LOG_LEVEL"] = "ERROR"
        os.environ.pop("NCM_REDIS_URL", None)  # jobs, rate limits, sticky marks in memory
        from ncm.config import reset_settings
        from ncm.kit import replica
        from ncm.kit.db import close_db

        reset_settings()
        await prepare(pair, args.tracks, args.users)
        replica.open(os.environ["NCM_DATABASE_REPLICA_URL"])
        print(f"load average before: {os.getloadavg()}")
        writes = await write_load(pair, args.rate, args.seconds, args.writers)
        print("lag under writes:", writes)
        print(f"load average after writes: {os.getloadavg()}")
        reads = await read_mix(pair, args.read_seconds, args.concurrency)
        print("read share:", reads)
        print(f"load average after reads: {os.getloadavg()}")
        await replica.close()
        await close_db()
    finally:
        pair.remove()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.replica_bench", description=__doc__)
    parser.add_argument("--rate", type=float, default=1000, help="comments posted per second")
    parser.add_argument("--seconds", type=float, default=20, help="seconds of write load")
    parser.add_argument("--read-seconds", type=float, default=20, help="seconds of read mix")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent readers")
    parser.add_argument("--tracks", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument(
        "--writers", type=int, default=1, help="posting processes sharing --rate (one is this)"
    )
    parser.add_argument("--writer", help=argparse.SUPPRESS)  # N/M/START: a writer's share
    args = parser.parse_args()
    if args.writer:
        writer, writers, start_at = args.writer.split("/")
        asyncio.run(
            writer_main(args.rate, args.seconds, int(writer), int(writers), float(start_at))
        )
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
