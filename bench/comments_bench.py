"""Comments at scale (issue #4's targets).

    python -m bench.comments_bench [--database-url postgres://postgres@127.0.0.1/ncm_bench_comments]
                                   [--total 10000000] [--hot-track-share 0.2] [--duration 15]
                                   [--connections 16] [--posts 6000] [--skip-seed]

1. Creates (or reuses) its own PostgreSQL database, applies the migrations and seeds
   ``--total`` comments with ``ncm seed scale --comments``'s code (skipped when the database
   already holds them).
2. Query plans: ``EXPLAIN ANALYZE`` of the first page and of a page 1,000,000 deep, in NEWEST
   and HOT order, on the hot track's thread -- the very SQL the API runs (target < 5 ms).
3. GraphQL: ``ncm serve`` (one worker) and the shared closed-loop load generator at
   ``--connections`` keep-alive connections for ``--duration`` s, a logged-in viewer asking
   for a page of 20 comments with authors and ``likedByViewer`` (target >= 400 req/s,
   p99 < 60 ms).
4. Posting: ``--posts`` comments through the service layer from 16 concurrent tasks (a fifth
   on the hot track, a third of them replies), then every stored counter of the threads
   touched is compared with a count of the rows (target >= 300 comments/s, all exact).

Figures are noisy when something else runs on the machine (``harness.busy_warning``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from typing import Any

from bench import harness, loadgen

DEFAULT_URL = "postgres://postgres@127.0.0.1/ncm_bench_comments"
PORT = 8841
DEPTH = 1_000_000
PAGE_QUERY = """query($t: ID!, $o: CommentOrder, $a: String) {
  comments(threadId: $t, order: $o, first: 20, after: $a) {
    edges { cursor node { id body likeCount replyCount createdAt likedByViewer
      author { id handle displayName avatarUrl } } }
    pageInfo { hasNextPage endCursor } } }"""


async def prepare(args: argparse.Namespace) -> dict[str, Any]:
    from bench.seed import _ensure_database
    from ncm.comments.models import Comment, CommentThread
    from ncm.kit.db import init_db
    from ncm.kit.migrate import upgrade
    from ncm.seeding.comments import seed_comments

    await _ensure_database(args.database_url, recreate=False)
    await upgrade(args.database_url)
    await init_db(args.database_url)
    have = await Comment.all().count()
    seeded: dict[str, Any] = {}
    if have < args.total * 0.9 and not args.skip_seed:
        seeded = await seed_comments(args.total - have, args.hot_track_share, harness.console.print)
    hot = await CommentThread.all().order_by("-comment_count").first()
    assert hot is not None, "no comments: run without --skip-seed"
    return {"comments": await Comment.all().count(), "hot": hot, "seeded": seeded}


async def _cursor_at(order: Any, thread_id: int, depth: int) -> tuple[Any, int]:
    """The sort key of the row ``depth`` deep (OFFSET once, to make the cursor)."""
    from ncm.comments.pages import _SORT, _TOP
    from ncm.kit.sql import fetch

    column = _SORT[order]
    rows = await fetch(
        f"SELECT {column} AS k, id FROM comments WHERE {_TOP}"
        f" ORDER BY {column} DESC, id DESC OFFSET {depth} LIMIT 1",
        [thread_id],
    )
    return rows[0]["k"], rows[0]["id"]


async def plans(thread_id: int, depth: int) -> dict[str, Any]:
    from tortoise import connections

    from ncm.comments.pages import seek_query
    from ncm.comments.ranking import CommentOrder

    conn = connections.get("default")
    out: dict[str, Any] = {}
    for order in (CommentOrder.NEWEST, CommentOrder.HOT):
        deep = await _cursor_at(order, thread_id, depth)
        for label, after in (("first page", None), (f"{depth:,} deep", deep)):
            text, params = seek_query(order, thread_id, 21, after)
            timings, plan = [], None
            for _ in range(7):
                rows = await conn.execute_query_dict(
                    f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {text}", params
                )
                raw = rows[0]["QUERY PLAN"]
                plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]
                timings.append(plan["Execution Time"] + plan["Planning Time"])
            assert plan is not None
            scan = plan["Plan"]
            while "Plans" in scan and scan.get("Node Type") != "Index Scan":
                scan = scan["Plans"][0]
            out[f"{order.value} {label}"] = {
                "ms_median": round(statistics.median(timings), 3),
                "ms_max": round(max(timings), 3),
                "node": f"{scan['Node Type']} on {scan.get('Index Name')}",
                "rows_read": scan.get("Actual Rows"),
            }
    return out


async def _viewer_token(thread_id: int) -> str:
    """A seeded user's access token; they like a few comments of the first pages, so
    ``likedByViewer`` is not all false."""
    from ncm.accounts import service as accounts
    from ncm.accounts.models import User
    from ncm.comments import service
    from ncm.comments.ranking import CommentOrder
    from ncm.seeding.scale import BENCH_PASSWORD

    user = await User.filter(email__endswith="@bench.example.com").order_by("id").first()
    assert user is not None, "no seeded users"
    session = await accounts.login(user.handle, BENCH_PASSWORD, client_ip="127.0.0.1")
    for order in (CommentOrder.NEWEST, CommentOrder.HOT):
        page = await service.thread_page(thread_id, order, 20, None)
        for comment in page.items[::4]:
            await service.like(user, comment.id)
    return session.access_token


def _start_server(url: str, pinning: harness.Pinning) -> subprocess.Popen[bytes]:
    env = harness.server_env(url, None)
    env["NCM_MAX_PAGE_SIZE"] = "100"
    proc = subprocess.Popen(
        [
            *pinning.prefix(pinning.server),
            sys.executable,
            "-m",
            "ncm.cli",
            "serve",
            "--port",
            str(PORT),
        ],
        cwd=harness.ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            harness.post_json(PORT, {"query": "{ __typename }"})
            return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("ncm serve did not start")


def graphql_load(
    url: str, thread_key: int, token: str, deep_cursors: list[str], args: argparse.Namespace
) -> dict[str, loadgen.Result]:
    from ncm.schema.base import to_global_id

    pinning = harness.Pinning.choose(1, True)
    thread = str(to_global_id("CommentThread", thread_key))
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    def requests(order: str, cursors: list[str | None]) -> list[bytes]:
        bodies = [
            {"query": PAGE_QUERY, "variables": {"t": thread, "o": order, "a": c}} for c in cursors
        ]
        return [
            loadgen.http_post(harness.HOST, PORT, "/graphql", json.dumps(b).encode(), headers)
            for b in bodies
        ]

    proc = _start_server(url, pinning)
    try:
        results = {}
        for label, batch in (
            ("NEWEST first page", requests("NEWEST", [None])),
            ("HOT first page", requests("HOT", [None])),
            ("RECOMMENDED first page (the default order)", requests("RECOMMENDED", [None])),
            ("NEWEST/HOT pages at random depths", requests("NEWEST", deep_cursors)),
        ):
            results[label] = harness.drive(
                PORT,
                batch,
                connections=args.connections,
                duration=args.duration,
                warmup=3.0,
                pinning=pinning,
            )
        return results
    finally:
        proc.terminate()
        proc.wait(timeout=15)


async def deep_cursors(thread_id: int, depth: int) -> list[str]:
    from ncm.comments.models import Comment
    from ncm.comments.pages import key_of
    from ncm.comments.ranking import CommentOrder
    from ncm.kit.pagination import encode_cursor

    cursors = []
    for at in sorted({min(d, depth) for d in (1_000, 10_000, 100_000, 500_000, depth)}):
        value, pk = await _cursor_at(CommentOrder.NEWEST, thread_id, at)
        row = Comment(id=pk, created_at=value)
        cursors.append(encode_cursor(key_of(CommentOrder.NEWEST, row)))
    return cursors


async def posting(hot_thread: Any, count: int) -> dict[str, Any]:
    from ncm.accounts.models import User
    from ncm.comments import service
    from ncm.comments.models import CommentThread
    from ncm.comments.targets import ThreadRef

    rng = random.Random(4)
    run = int(time.time())  # texts differ between runs (the duplicate check)
    users = list(await User.all().order_by("id").limit(5_000))
    threads = [
        ThreadRef.of(t)
        for t in await CommentThread.filter(comment_count__gt=0).order_by("id").limit(2_000)
    ]
    hot = ThreadRef.of(hot_thread)
    recent: dict[ThreadRef, list[int]] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)
    touched: set[ThreadRef] = set()

    async def worker() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            ref = hot if rng.random() < 0.2 else rng.choice(threads)
            reply_to = None
            if recent.get(ref) and rng.random() < 0.33:
                reply_to = rng.choice(recent[ref])
            row = await service.post_comment(
                rng.choice(users), ref, f"bench comment {run}-{n} 🎵", reply_to_id=reply_to
            )
            if row.parent_id is None:
                recent.setdefault(ref, []).append(row.id)
            touched.add(ref)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(16)))
    seconds = time.perf_counter() - started
    wrong = await verify([t for t in touched])
    return {
        "posted": count,
        "seconds": round(seconds, 2),
        "per_second": round(count / seconds),
        "threads_touched": len(touched),
        **wrong,
    }


async def verify(refs: list[Any]) -> dict[str, int]:
    """Every stored counter of these threads against a count of the rows (set-based)."""
    from ncm.comments.targets import threads_by_refs
    from ncm.kit.sql import fetch

    ids = [t.id for t in (await threads_by_refs(refs)).values()]
    checks = {
        "wrong_thread_counts": "SELECT count(*) AS n FROM comment_threads t LEFT JOIN ("
        " SELECT thread_id, count(*) AS v FROM comments WHERE thread_id = ANY($1)"
        " AND state = 'VISIBLE' GROUP BY thread_id) c ON c.thread_id = t.id"
        " WHERE t.id = ANY($1) AND t.comment_count <> coalesce(c.v, 0)",
        "wrong_track_counts": "SELECT count(*) AS n FROM comment_threads t JOIN tracks k ON"
        " k.id = t.target_id AND t.target_type = 'TRACK' WHERE t.id = ANY($1)"
        " AND k.comment_count <> t.comment_count",
        "wrong_reply_counts": "SELECT count(*) AS n FROM comments p LEFT JOIN ("
        " SELECT parent_id, count(*) AS v FROM comments WHERE thread_id = ANY($1)"
        " AND parent_id IS NOT NULL AND state = 'VISIBLE' GROUP BY parent_id) r"
        " ON r.parent_id = p.id WHERE p.thread_id = ANY($1) AND p.parent_id IS NULL"
        " AND p.reply_count <> coalesce(r.v, 0)",
        "wrong_like_counts": "SELECT count(*) AS n FROM comments c LEFT JOIN ("
        " SELECT l.comment_id, count(*) AS v FROM comment_likes l JOIN comments x"
        " ON x.id = l.comment_id WHERE x.thread_id = ANY($1) GROUP BY l.comment_id) k"
        " ON k.comment_id = c.id WHERE c.thread_id = ANY($1) AND c.like_count <> coalesce(k.v, 0)",
    }
    return {name: (await fetch(sql, [ids]))[0]["n"] for name, sql in checks.items()}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["NCM_DATABASE_URL"] = args.database_url
    os.environ["NCM_COMMENT_RATE_PER_MINUTE"] = str(10**9)
    os.environ.pop("NCM_REDIS_URL", None)
    from ncm.comments.models import Comment
    from ncm.config import reset_settings
    from ncm.kit.db import close_db

    reset_settings()
    report: dict[str, Any] = {"machine": harness.machine_info(args.database_url)}
    busy = harness.busy_warning()
    if busy:
        report["warning"] = busy
    try:
        state = await prepare(args)
        hot = state["hot"]
        report["data"] = {
            "comments": state["comments"],
            "hot_thread_comments": hot.comment_count,
            "seed": state["seeded"],
        }
        harness.console.print(report["data"])
        if args.only_posting:
            report["posting"] = await posting(hot, args.posts)
            harness.console.print(report["posting"])
            return report
        listed = await Comment.filter(thread_id=hot.id, listed=True, parent_id=None).count()
        args.depth = min(args.depth, listed - 21)
        report["plans"] = await plans(hot.id, args.depth)
        harness.console.print(report["plans"])
        from ncm.comments.targets import ThreadRef

        token = await _viewer_token(hot.id)
        cursors = await deep_cursors(hot.id, args.depth)
        loop = asyncio.get_running_loop()
        load = await loop.run_in_executor(
            None, graphql_load, args.database_url, ThreadRef.of(hot).key, token, cursors, args
        )
        report["graphql"] = {k: vars(v) for k, v in load.items()}
        for name, result in load.items():
            harness.console.print(
                f"{name}: {result.rps} req/s, p50 {result.p50_ms} ms,"
                f" p99 {result.p99_ms} ms, errors {result.errors}"
            )
        report["posting"] = await posting(hot, args.posts)
        harness.console.print(report["posting"])
    finally:
        await close_db()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--total", type=int, default=10_000_000)
    parser.add_argument("--hot-track-share", type=float, default=0.2)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--posts", type=int, default=6_000)
    parser.add_argument("--depth", type=int, default=DEPTH, help="Rows deep for the deep page.")
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--only-posting", action="store_true", help="Skip plans and GraphQL.")
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
