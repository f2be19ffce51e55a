"""Replica lag under a comment write load, and the read share that moves off the primary.

``python -m bench.replica_bench`` creates a throwaway primary and streaming standby
(``bench/pgcluster.py``, free ports, a temp folder; the machine's cluster is not touched),
migrates and seeds it, then:

1. **Lag under writes**: posts comments at ``--rate`` per second for ``--seconds`` from
   ``--writers`` processes (comment ``i`` by author ``i % 1000`` on track ``i % 200``), and
   samples the standby's replay lag every 100 ms (``pg_stat_replication`` on the primary,
   and what ``ncm.kit.replica`` measures on the standby).
2. **Read share**: drives a mix of GraphQL operations (track pages, comment pages, search,
   public profiles; the viewer's library, playback decisions and comment posts, which stay on
   the primary) through the app with the replica configured, and counts where the
   statements ran (``pg_stat_database.xact_commit`` on each server) and where the operations
   were routed.

**Writer modes.** ``--writer-mode service`` calls ``ncm.comments.service.post_comment`` (the
row and its counters in one transaction, as the API does). On two cores its Python (Tortoise,
the service's checks) was the limit: 467 posts/s from one process, 701/s from two.
``--writer-mode sql`` (the default: the question is the replica's lag under the database
work of 1,000 comments/s) sends **the statements ``post_comment`` sends, one for one, with
the same parameters**, on a raw asyncpg pool (``--pool`` connections per process; ncm's
connection class and session settings, prepared statements): the ban check; then in one
transaction the author's advisory lock, the thread with the author's last body in it (on a
thread's first comment: the target's existence and the thread row), the comment
(``RETURNING *``), the thread's counter, the target's counter. It skips only Python: the
ORM's models, the in-memory rate limit and live publish (Redis is off in both modes).
The ``SQL_*`` texts were taken from the primary's log (``log_statement = all``).

**How the equivalence is checked**: ``--check N`` (e.g. ``--check 2000 --rate 400 --tracks
2000 --users 1000``) posts the same N comments in each mode on two copies of one seeded,
vacuumed database, with every statement logged, and compares: the transactions (statement
texts in order, with their parameters' shapes: int, text, timestamptz, null...), every column
of the comments posted but id, thread id and time, the threads, every track's and album's
``comment_count``, and the WAL records (``pg_waldump``: commits, row inserts, row updates).
It exits 1 on a difference. What may differ is where an updated row lands (a HOT update on
its page, or another page with new index entries), which follows page pruning and timing:
in the checks run so far the sql mode wrote 5-20 % more WAL per comment than the service
mode (fewer HOT updates), never less.

Run under ``flock /tmp/ncm-heavy.lock``; it removes the pair when it ends.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

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


# What ``post_comment`` sends to PostgreSQL for a comment on a track's thread, in order,
# captured from the primary's log (``log_statement = all``; ``--check`` compares them again).
# Outside the transaction: the ban check. Inside it: the author's advisory lock, the thread and
# the author's last body there, (first comment of a thread only: the target exists, then the
# thread row), the comment, the thread's counter, the target's counter.
SQL_BAN_END = (
    "SELECT ends_at FROM comment_bans WHERE user_id = $1 AND lifted_at IS NULL"
    " AND ends_at > $2 ORDER BY ends_at DESC LIMIT 1"
)
SQL_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, $2))"
SQL_THREAD = (
    "SELECT t.id, (SELECT c.body FROM comments c WHERE c.author_id = $1"
    " AND c.thread_id = t.id ORDER BY c.id DESC LIMIT 1) AS last_body"
    " FROM comment_threads t WHERE t.target_type = $2 AND t.target_id = $3"
)
SQL_TARGET_EXISTS = "SELECT id FROM {table} WHERE id = ANY($1)"
SQL_NEW_THREAD = (
    "INSERT INTO comment_threads (target_type, target_id, comment_count, created_at)"
    " VALUES ($1, $2, 0, $3) ON CONFLICT (target_type, target_id)"
    " DO UPDATE SET comment_count = comment_threads.comment_count RETURNING id"
)
SQL_THREAD_COUNT = (
    "UPDATE comment_threads SET comment_count = comment_count + $1 WHERE id = $2"
    " RETURNING target_type, target_id"
)
SQL_TARGET_COUNT = "UPDATE {table} SET comment_count = comment_count + $1 WHERE id = $2"
WRITER_MODES = ("sql", "service")


async def sql_poster(url: str, pool_size: int) -> tuple[Any, Any]:
    """``(post, pool)``: ``post(author_id, track_id, body)`` runs ``post_comment``'s statements
    (see ``SQL_*``) with its parameters on a raw asyncpg pool: the same connection class and
    session settings as ncm's pool, prepared statements, one transaction per comment."""
    from datetime import UTC, datetime

    from ncm.comments import ranking
    from ncm.comments.errors import duplicate_comment
    from ncm.comments.models import CommentState, TargetType
    from ncm.comments.service import _INSERT
    from ncm.comments.targets import TARGET_MODELS
    from ncm.comments.text import clean_body
    from ncm.kit.db import _pg_credentials
    from ncm.kit.pgpool import PooledConnection

    target = _pg_credentials(url)
    pool = await asyncpg.create_pool(
        host=target["host"],
        port=target["port"],
        user=target["user"],
        database=target["database"],
        min_size=pool_size,
        max_size=pool_size,
        connection_class=PooledConnection,
        server_settings=target["server_settings"],
    )
    kind = TargetType.TRACK.value
    tables = {t.value: model._meta.db_table for t, model in TARGET_MODELS.items()}
    exists = SQL_TARGET_EXISTS.format(table=tables[kind])

    async def post(author_id: int, track_id: int, body: str) -> int:
        text = clean_body(body)
        async with pool.acquire() as conn:
            if await conn.fetch(SQL_BAN_END, author_id, datetime.now(UTC)):
                raise RuntimeError("banned")  # as CommentBanned; nobody is, here
            created = datetime.now(UTC)
            async with conn.transaction():
                await conn.fetch(SQL_LOCK, "ncm.comments.post", author_id)
                rows = await conn.fetch(SQL_THREAD, author_id, kind, track_id)
                if rows:
                    thread_id, last_body = rows[0]["id"], rows[0]["last_body"]
                else:
                    if not await conn.fetch(exists, [track_id]):
                        raise LookupError("no such track")
                    new = await conn.fetch(SQL_NEW_THREAD, kind, track_id, datetime.now(UTC))
                    thread_id, last_body = new[0]["id"], None
                if last_body == text:
                    raise duplicate_comment()
                comment = await conn.fetch(
                    _INSERT,
                    thread_id,
                    author_id,
                    None,
                    None,
                    text,
                    CommentState.VISIBLE.value,
                    True,
                    ranking.hot_score(0, 0, created),
                    created,
                )
                counted = await conn.fetch(SQL_THREAD_COUNT, 1, thread_id)
                table = tables[counted[0]["target_type"]]
                await conn.fetch(SQL_TARGET_COUNT.format(table=table), 1, counted[0]["target_id"])
        return int(comment[0]["id"])

    return post, pool


async def connect(url: str) -> asyncpg.Connection:
    """A plain connection to an ``NCM_DATABASE_URL`` (which may carry ``?maxsize=``)."""
    from ncm.kit.db import _pg_credentials

    target = _pg_credentials(url)
    return await asyncpg.connect(
        host=target["host"], port=target["port"], user=target["user"], database=target["database"]
    )


async def load_inputs(url: str, threads: int = 200) -> tuple[list[int], list[int]]:
    """The authors (the first 1,000 users) and the tracks whose threads get the comments."""
    conn = await connect(url)
    try:
        authors = await conn.fetch("SELECT id FROM users ORDER BY id LIMIT 1000")
        tracks = await conn.fetch("SELECT id FROM tracks ORDER BY id LIMIT $1", threads)
    finally:
        await conn.close()
    return [r["id"] for r in authors], [r["id"] for r in tracks]


async def post_share(
    rate: float,
    seconds: float,
    writer: int,
    writers: int,
    start_at: float,
    mode: str = "sql",
    pool_size: int = 10,
    ready: Any = None,
) -> dict[str, Any]:
    """Post this writer's share of the load: every ``writers``-th comment from ``writer`` on,
    at ``rate / writers`` per second from the wall-clock time ``start_at``; comment ``i`` is
    by author ``i % 1000`` on track ``i % 200``. ``mode`` "service" calls ``post_comment``
    (the environment names the primary; Tortoise is initialised), "sql" runs the same
    statements on a raw asyncpg pool of ``pool_size``. Latencies in seconds."""
    url = os.environ["NCM_DATABASE_URL"]
    author_ids, track_ids = await load_inputs(url)
    post = await _poster(mode, url, pool_size)
    if ready is not None:
        ready()  # ``--check`` marks the server log here: what follows is the posting
    limit = asyncio.Semaphore(64)
    latencies: list[float] = []
    errors: dict[str, int] = {}

    async def one(i: int) -> None:
        async with limit:
            began = time.perf_counter()
            try:
                await post[0](
                    author_ids[i % len(author_ids)],
                    track_ids[i % len(track_ids)],
                    f"load comment {i}",
                )
            except Exception as error:
                errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
            latencies.append(time.perf_counter() - began)

    own = range(writer, int(rate * seconds), writers)
    tasks = []
    await asyncio.sleep(max(0.0, start_at - time.time()))  # every writer starts together
    began_at = time.time()
    cpu_began = time.process_time()
    started = time.perf_counter()
    for i in own:
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    ended_at = time.time()
    cpu = time.process_time() - cpu_began
    await post[1]()
    failed = sum(errors.values())
    return {
        "posted": len(own) - failed,
        "errors": errors,
        "latencies": latencies,
        "began_at": began_at,
        "ended_at": ended_at,
        "cpu_seconds": cpu,  # this process's, while it posted (the first also samples lag)
    }


async def _poster(mode: str, url: str, pool_size: int) -> tuple[Any, Any]:
    """``(post(author_id, track_id, body), close())`` for a writer mode."""
    if mode == "sql":
        post, pool = await sql_poster(url, pool_size)
        return post, pool.close
    from ncm.accounts.models import User
    from ncm.comments import service
    from ncm.comments.models import TargetType
    from ncm.comments.targets import ThreadRef

    users: dict[int, User] = {u.id: u for u in await User.all().order_by("id").limit(1000)}

    async def post_service(author_id: int, track_id: int, body: str) -> int:
        ref = ThreadRef(TargetType.TRACK, track_id)
        return (await service.post_comment(users[author_id], ref, body)).id

    async def nothing() -> None:
        return None

    return post_service, nothing


async def _writer_process(
    rate: float, seconds: float, writer: int, writers: int, start_at: float, mode: str, pool: int
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
        "--writer-mode",
        mode,
        "--pool",
        str(pool),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    return out.decode().splitlines()


def _cpu_label(pid: int, postmasters: dict[int, str]) -> str | None:
    """Which group a process's CPU counts in, or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    ppid = int(stat.rsplit(")", 1)[1].split()[1])
    if pid == os.getpid():
        return "bench process (writer 0, lag sampler)"
    server = postmasters.get(ppid)
    if server is None:
        return None
    if "postgres: " in title and DATABASE in title:
        return f"{server} backends"
    for word in ("walsender", "walreceiver", "startup", "walwriter", "checkpointer"):
        if word in title:
            return f"{server} {word}"
    return f"{server} other"


def cpu_seconds(pair: Pair) -> dict[str, float]:
    """CPU seconds (user + system) so far of the bench's processes and the two servers', by
    group (``/proc``; a process that ended meanwhile is not counted)."""
    postmasters = {}
    for name, server in (("primary", pair.primary), ("standby", pair.standby)):
        pid_file = server.data / "postmaster.pid"
        if pid_file.exists():
            postmasters[int(pid_file.read_text().split()[0])] = name
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        label = _cpu_label(int(entry.name), postmasters)
        if label is None:
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[label] = out.get(label, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return out


async def write_load(
    pair: Pair,
    rate: float,
    seconds: float,
    writers: int = 1,
    mode: str = "sql",
    pool: int = 10,
) -> dict[str, Any]:
    import json

    samples: dict[str, list[float]] = {"replay_lag": [], "bytes_behind": [], "measured_lag": []}
    stop = asyncio.Event()
    start_at = time.time() + (5 if writers > 1 else 0)  # time for the others to start

    async def sample_from_the_start() -> None:
        # An idle standby's measured lag grows with the time since the last commit (the
        # seed's, or 5 s before several writers start): sampling starts once the standby
        # has replayed a transaction committed after the writes began (at most 5 s in).
        await asyncio.sleep(max(0.0, start_at - time.time()))
        standby = await asyncpg.connect(pair.standby.url(DATABASE))
        try:
            for _ in range(500):  # 5 s
                replayed = await standby.fetchval(
                    "SELECT coalesce(pg_last_xact_replay_timestamp() >= to_timestamp($1), false)",
                    start_at,
                )
                if replayed:
                    break
                await asyncio.sleep(0.01)
        finally:
            await standby.close()
        await lag_sampler(pair, stop, samples)

    sampler = asyncio.create_task(sample_from_the_start())
    others = [
        _writer_process(rate, seconds, w, writers, start_at, mode, pool) for w in range(1, writers)
    ]
    cpu_task = asyncio.create_task(_cpu_during(pair, start_at, seconds))
    results = await asyncio.gather(
        post_share(rate, seconds, 0, writers, start_at, mode, pool), *others
    )
    cpu_before, cpu_after, cpu_elapsed = await cpu_task
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
        "writer_mode": mode,
        "writers": writers,
        "pool_per_writer": pool if mode == "sql" else None,
        "posted": posted,
        "errors": errors,
        "seconds": round(elapsed, 1),
        "rate": round(posted / elapsed),
        "writers_cpu_share_of_a_core": round(
            sum(share["cpu_seconds"] for share in shares) / elapsed, 2
        ),
        "cpu_share_of_a_core": {
            name: round((cpu_after[name] - cpu_before.get(name, 0.0)) / cpu_elapsed, 2)
            for name in sorted(cpu_after)
            if cpu_after[name] - cpu_before.get(name, 0.0) >= 0.005 * cpu_elapsed
        },
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


async def _cpu_during(
    pair: Pair, start_at: float, seconds: float
) -> tuple[dict[str, float], dict[str, float], float]:
    """The processes' CPU from the writes' start to their scheduled end (the writers'
    start-up and their pools' closing are not in it: a closed pool's backends are gone)."""
    await asyncio.sleep(max(0.0, start_at + 0.05 - time.time()))
    before, began = cpu_seconds(pair), time.time()
    await asyncio.sleep(max(0.0, start_at + seconds - 0.05 - time.time()))
    return before, cpu_seconds(pair), time.time() - began


async def writer_main(
    rate: float, seconds: float, writer: int, writers: int, start_at: float, mode: str, pool: int
) -> None:
    """A posting process started by ``write_load``: the environment names the primary."""
    import json

    from ncm.kit.db import close_db, init_db

    if mode == "sql":
        share = await post_share(rate, seconds, writer, writers, start_at, mode, pool)
    else:
        await init_db()
        try:
            share = await post_share(rate, seconds, writer, writers, start_at, mode, pool)
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
    track_ids = cast(list[int], await Track.all().limit(500).values_list("id", flat=True))
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


def _environment(pair: Pair) -> None:
    os.environ["NCM_DATABASE_URL"] = pair.primary.url(DATABASE, maxsize="20")
    os.environ["NCM_DATABASE_REPLICA_URL"] = pair.standby.url(DATABASE, maxsize="20")
    os.environ["NCM_COMMENT_RATE_PER_MINUTE"] = str(10**9)
    os.environ["NCM_LOG_LEVEL"] = "ERROR"
    os.environ.pop("NCM_REDIS_URL", None)  # jobs, rate limits, sticky marks in memory
    from ncm.config import reset_settings

    reset_settings()


_LOG_LINE = re.compile(r"^\S+ \S+ \S+ \[(\d+)\] (\S*) (LOG|DETAIL):  (.*)$")
_STATEMENT = re.compile(r"^(?:execute [^:]*|statement): (.*)$", re.S)
_PARAMETER = re.compile(r"\$\d+ = (NULL|'(?:[^']|'')*')")
_SHAPES = [
    ("int", re.compile(r"-?\d+")),
    ("float", re.compile(r"-?\d+\.\d+(e[-+]?\d+)?")),
    ("timestamptz", re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?[-+]\d\d")),
    ("array", re.compile(r"\{.*\}")),
    ("bool", re.compile(r"[tf]")),
]


def _shape(value: str) -> str:
    if value == "NULL":
        return "null"
    inner = value[1:-1]
    return next((name for name, form in _SHAPES if form.fullmatch(inner)), "text")


def logged_transactions(log: str, database: str) -> tuple[Counter[tuple[Any, ...]], int]:
    """The statements ``database`` ran, from a ``log_statement = all`` log with
    ``log_line_prefix = '%m [%p] %d '``: a Counter of transactions (each a tuple of
    ``(statement, parameter shapes)``; a statement outside ``BEGIN``/``COMMIT`` is a
    transaction of its own), and the number of asyncpg type introspections left out."""
    entries: list[dict[str, Any]] = []  # {"pid", "lines", "shapes"}, in log order
    last: dict[str, Any] | None = None
    for line in log.splitlines():
        if line.startswith("\t"):
            if last is not None:
                last["lines"].append(line[1:])
            continue
        last = None
        found = _LOG_LINE.match(line)
        if found is None or found[2] != database:
            continue
        pid, kind, message = found[1], found[3], found[4]
        if kind == "DETAIL" and message.startswith("parameters: "):
            for entry in reversed(entries):
                if entry["pid"] == pid:
                    entry["shapes"].extend(_shape(v) for v in _PARAMETER.findall(message))
                    break
            continue
        statement = _STATEMENT.match(message) if kind == "LOG" else None
        if statement:
            last = {"pid": pid, "lines": [statement[1]], "shapes": []}
            entries.append(last)
    transactions: Counter[tuple[Any, ...]] = Counter()
    open_: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    introspections = 0
    for entry in entries:
        text = "\n".join(entry["lines"]).strip()
        if not text or any(m in text for m in ("typeinfo_tree", "pg_catalog.", "'jit'")):
            introspections += 1
            continue
        pid, item = entry["pid"], (text, tuple(entry["shapes"]))
        if text.rstrip(";").upper() == "BEGIN":
            open_[pid] = [item]
        elif pid in open_:
            open_[pid].append(item)
            if text.rstrip(";").upper() in ("COMMIT", "ROLLBACK"):
                transactions[tuple(open_.pop(pid))] += 1
        else:
            transactions[(item,)] += 1
    return transactions, introspections


_ROWS = {
    # Every column of the comments posted but their id, thread id and creation time (the
    # score follows the time: checked apart), with the thread's target.
    "comments": "SELECT t.target_type || ':' || t.target_id || ' '"
    " || (to_jsonb(c) - 'id' - 'thread_id' - 'created_at' - 'hot_score')::text AS row"
    " FROM comments c JOIN comment_threads t ON t.id = c.thread_id",
    "threads": "SELECT (to_jsonb(t) - 'id' - 'created_at')::text AS row FROM comment_threads t",
    "track counters": "SELECT id || ':' || comment_count AS row FROM tracks",
    "album counters": "SELECT id || ':' || comment_count AS row FROM albums",
}
_SCORES_OFF = (
    "SELECT count(*) FROM comments"
    " WHERE abs(hot_score - (extract(epoch FROM created_at) / $1)) > 1e-6"
)


async def database_state(url: str) -> dict[str, Any]:
    from ncm.comments.ranking import HOT_SECONDS_PER_DECADE

    conn = await connect(url)
    try:
        state: dict[str, Any] = {
            name: Counter(r["row"] for r in await conn.fetch(query))
            for name, query in _ROWS.items()
        }
        state["scores off"] = await conn.fetchval(_SCORES_OFF, HOT_SECONDS_PER_DECADE)
        state["counters off"] = await conn.fetchval(
            "SELECT count(*) FROM comment_threads t WHERE comment_count <> (SELECT count(*)"
            " FROM comments c WHERE c.thread_id = t.id AND c.state = 'VISIBLE')"
        )
        return state
    finally:
        await conn.close()


_LOGICAL = {
    "commits": ["Transaction/COMMIT"],
    "row inserts": ["Heap/INSERT", "Heap/INSERT+INIT"],
    "row updates": ["Heap/UPDATE", "Heap/UPDATE+INIT", "Heap/HOT_UPDATE", "Heap/HOT_UPDATE+INIT"],
    "upserts confirmed": ["Heap/HEAP_CONFIRM"],
}


def wal_records(pair: Pair, start: str, end: str) -> dict[str, tuple[int, int]]:
    """``{record type: (count, bytes)}`` of the primary's WAL from ``start`` to ``end``."""
    import subprocess

    from bench.pgcluster import _as_owner, pg_bin

    out = subprocess.run(
        [
            *_as_owner(),
            str(pg_bin() / "pg_waldump"),
            "--stats=record",
            "-s",
            start,
            "-e",
            end,
            "-p",
            str(pair.primary.data / "pg_wal"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    records = {}
    for line in out.splitlines():
        # "Heap/INSERT  2167 (  5.30)  300401 (  6.32)  0 (  0.00)  300401 (  6.32)"
        fields = re.sub(r"\([^)]*\)", "", line).split()
        if len(fields) == 5 and "/" in fields[0] and fields[1].isdigit():
            records[fields[0]] = (int(fields[1]), int(fields[4]))
    return records


async def check(args: argparse.Namespace) -> None:
    """``--check N``: the same N posts (comment ``i`` by author ``i % 1000`` on track
    ``i % 200``) by ``post_comment`` on the seeded database and by the sql mode on a copy of
    it made before (``CREATE DATABASE ... TEMPLATE``), with every statement logged. Equal:
    the transactions (statement texts in order, with their parameters' shapes), the rows
    (every column of the comments but id, thread id and time; the threads; every track's and
    album's counter), the WAL written within 10 %. Exits 1 when something differs."""
    import sys

    from ncm.kit.db import close_db, init_db

    pair = create_pair()
    try:
        _environment(pair)
        await prepare(pair, args.tracks, args.users)
        await close_db()
        copy = f"{DATABASE}_sql"
        # Vacuumed before the copy, so that autovacuum (which knows the seeded database's
        # dead rows, not the copy's) does not leave one of them with more free space.
        seeded = await asyncpg.connect(pair.primary.url(DATABASE))
        await seeded.execute("VACUUM (ANALYZE)")
        await seeded.close()
        admin = await asyncpg.connect(pair.primary.url())
        await admin.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{DATABASE}"')
        await admin.execute("ALTER SYSTEM SET log_statement = 'all'")
        await admin.execute("ALTER SYSTEM SET log_line_prefix = '%m [%p] %d '")
        await admin.execute("SELECT pg_reload_conf()")
        log = pair.primary.data / "server.log"
        seconds = args.check / args.rate
        marks: dict[str, int] = {}
        wal: dict[str, tuple[str, str]] = {}
        for mode, database in (("service", DATABASE), ("sql", copy)):
            url = pair.primary.url(database, maxsize="20")
            os.environ["NCM_DATABASE_URL"] = url
            if mode == "service":
                await init_db(url)
            lsn = await admin.fetchval("SELECT pg_current_wal_insert_lsn()::text")
            share = await post_share(
                args.rate,
                seconds,
                0,
                1,
                time.time(),
                mode,
                args.pool,
                ready=lambda mode=mode: marks.setdefault(mode, log.stat().st_size),
            )
            wal[mode] = (lsn, await admin.fetchval("SELECT pg_current_wal_insert_lsn()::text"))
            if mode == "service":
                await close_db()
            took = share["ended_at"] - share["began_at"]
            print(f"{mode}: {share['posted']} posted in {took:.1f} s, errors {share['errors']}")
        await admin.execute("ALTER SYSTEM RESET log_statement")
        await admin.execute("SELECT pg_reload_conf()")
        await admin.execute("SELECT pg_switch_wal()")
        await admin.close()
        records = {mode: wal_records(pair, *wal[mode]) for mode in wal}
        await asyncio.sleep(0.5)
        text = log.read_text(encoding="utf-8", errors="replace")
        logged = {
            "service": logged_transactions(text[marks["service"] : marks["sql"]], DATABASE),
            "sql": logged_transactions(text[marks["sql"] :], copy),
        }
        states = {
            "service": await database_state(pair.primary.url(DATABASE)),
            "sql": await database_state(pair.primary.url(copy)),
        }
    finally:
        pair.remove()
    failures = []
    for mode, (transactions, introspections) in logged.items():
        size = sum(b for _, b in records[mode].values())
        print(
            f"{mode}: {sum(transactions.values())} transactions logged, {len(transactions)}"
            f" distinct; {introspections} asyncpg type introspections left out;"
            f" WAL {size:,} bytes ({size / args.check:.0f} per comment)"
        )
    for statements, count in logged["service"][0].most_common():
        print(f"  {count} x")
        for statement, shapes in statements:
            print(f"      {statement[:90]}  ({', '.join(shapes)})")
    if logged["service"][0] != logged["sql"][0]:
        failures.append("the logged transactions differ")
        print("only service:", logged["service"][0] - logged["sql"][0])
        print("only sql:", logged["sql"][0] - logged["service"][0])
    for name in _ROWS:
        same = states["service"][name] == states["sql"][name]
        print(f"{name}: {sum(states['service'][name].values())} rows, equal: {same}")
        if not same:
            failures.append(f"{name} differ")
    for name in ("scores off", "counters off"):
        print(f"{name}: service {states['service'][name]}, sql {states['sql'][name]}")
        if states["service"][name] or states["sql"][name]:
            failures.append(name)
    print("WAL records (pg_waldump --stats=record), service / sql: count, bytes")
    for kind in sorted(set(records["service"]) | set(records["sql"])):
        a, b = records["service"].get(kind, (0, 0)), records["sql"].get(kind, (0, 0))
        print(f"  {kind:24} {a[0]:>7,} / {b[0]:<7,} {a[1]:>10,} / {b[1]:,}")
    # The logical records match one for one; where an updated row goes (the same page, a
    # HOT update, or another page with new index entries) follows which pages were pruned
    # when, so only the sums of the heap updates and of the heap inserts are compared.
    for name, kinds in _LOGICAL.items():
        counts = [sum(records[m].get(k, (0, 0))[0] for k in kinds) for m in ("service", "sql")]
        print(f"{name}: service {counts[0]:,}, sql {counts[1]:,}")
        if counts[0] != counts[1]:
            failures.append(f"{name} differ")
    print("check:", "; ".join(failures) if failures else "the same statements, rows, counters")
    if failures:
        sys.exit(1)


async def run(args: argparse.Namespace) -> None:
    pair = create_pair()
    try:
        _environment(pair)
        from ncm.kit import replica
        from ncm.kit.db import close_db

        await prepare(pair, args.tracks, args.users)
        if args.setting:
            # After the seed: e.g. synchronous_commit=on, the server's default, which the
            # throwaway pair turns off to seed and test faster.
            admin = await asyncpg.connect(pair.primary.url())
            for setting in args.setting:
                name, value = setting.split("=", 1)
                await admin.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            await admin.execute("SELECT pg_reload_conf()")
            await admin.close()
            await asyncio.sleep(0.5)  # the reload reaches the postmaster; new sessions see it
            admin = await asyncpg.connect(pair.primary.url())
            shown = {
                s.split("=")[0]: await admin.fetchval(f"SHOW {s.split('=')[0]}")
                for s in args.setting
            }
            await admin.close()
            print(f"primary settings for the writes and reads: {shown}")
        replica.open(os.environ["NCM_DATABASE_REPLICA_URL"])
        print(f"load average before: {os.getloadavg()}")
        writes = await write_load(
            pair, args.rate, args.seconds, args.writers, args.writer_mode, args.pool
        )
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
    parser.add_argument(
        "--writer-mode",
        choices=WRITER_MODES,
        default="sql",
        help="sql: post_comment's statements on raw asyncpg (default); service: post_comment",
    )
    parser.add_argument(
        "--pool", type=int, default=10, help="connections per sql-mode posting process"
    )
    parser.add_argument(
        "--check",
        type=int,
        metavar="N",
        help="post N comments in each mode on two copies of a small seed, compare the "
        "statements logged and the rows and counters produced, and exit",
    )
    parser.add_argument(
        "--setting",
        action="append",
        metavar="NAME=VALUE",
        help="a primary setting for the writes and reads (ALTER SYSTEM after the seed; "
        "repeatable), e.g. synchronous_commit=on",
    )
    parser.add_argument("--writer", help=argparse.SUPPRESS)  # N/M/START: a writer's share
    args = parser.parse_args()
    if args.writer:
        writer, writers, start_at = args.writer.split("/")
        asyncio.run(
            writer_main(
                args.rate,
                args.seconds,
                int(writer),
                int(writers),
                float(start_at),
                args.writer_mode,
                args.pool,
            )
        )
    elif args.check:
        asyncio.run(check(args))
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
