"""``python -m bench profile``: where a request's time goes, in-process.

Drives the real ASGI application (``ncm.app.create_app``) directly, without HTTP, over the
bench database: first counts and times the SQL statements of a request (each statement is
re-run alone through asyncpg), then measures the Python CPU time per request, then runs
``cProfile`` over the requests and prints the functions that cost the most.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import json
import logging
import os
import pstats
import statistics
import time
from typing import Any

from bench import harness
from bench.harness import Report, console
from bench.search import SEARCH, _Capture
from bench.track_page import body as track_body
from bench.track_page import sample_track_ids


async def _call(app: Any, payload: bytes, token: str | None = None) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            *([(b"authorization", f"Bearer {token}".encode())] if token else []),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8801),
        "state": {},
    }
    messages = [{"type": "http.request", "body": payload, "more_body": False}]
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def _profile(
    database_url: str, target: str, requests: int, top: int, dump: str | None = None
) -> dict[str, Any]:
    import asyncpg

    from ncm.app import create_app, tune_gc
    from ncm.kit.db import close_db, init_db
    from ncm.schema.catalog import search as search_page

    token: str | None = None
    await init_db(database_url)
    app = create_app(manage_db=False)
    if target == "track-page":
        ids = await sample_track_ids(database_url, max(requests, 100))
        payloads = [json.dumps(track_body(i)).encode() for i in ids]
    elif target == "search":
        from ncm.seeding.words import EN_WORDS, ZH_WORDS

        words = [*ZH_WORDS[:40], *(w[:5] for w in EN_WORDS[:60] if len(w) >= 5)]
        payloads = [json.dumps({"query": SEARCH, "variables": {"q": w}}).encode() for w in words]
    elif target in ("comment-page", "search-page"):  # bench hotpath's pages
        # comment-page: anonymous, newest first, at 41 depths; search-page: the 20 most
        # frequent title tokens, first pages (the search cache off, as in bench hotpath).
        from bench.hotpath import _pages

        pages = await _pages(database_url)
        payloads = [json.dumps(b).encode() for b in pages[target.replace("-", " ")]]
    else:  # comments-page: the comments bench's page of 20, logged in, on the largest thread
        payloads, token = await _comment_payloads()
    out: dict[str, Any] = {"target": target, "requests": requests}
    conn = await asyncpg.connect(harness.asyncpg_dsn(database_url))
    try:
        for payload in payloads[:20]:  # warm up caches (parser, validation, pages)
            status, response = await _call(app, payload, token)
            if status != 200 or b'"errors"' in response:
                raise SystemExit(f"request failed: {status} {response[:500]!r}")
        tune_gc()  # as the server's lifespan does (the application's lifespan is not run here)

        # 1. SQL per request, and what each statement costs in the database alone.
        logger = logging.getLogger("tortoise.db_client")
        per_request: list[list[tuple[str, list[Any]]]] = []
        for payload in payloads[:30]:
            capture = _Capture()
            logger.setLevel(logging.DEBUG)
            logger.addHandler(capture)
            try:
                await _call(app, payload, token)
            finally:
                logger.removeHandler(capture)
                logger.setLevel(logging.WARNING)
            per_request.append(capture.statements)
        db_ms: list[float] = []
        for statements in per_request:
            total = 0.0
            for sql, params in statements:
                runs = []
                for _ in range(5):
                    start = time.perf_counter()
                    await conn.fetch(sql, *params)
                    runs.append(time.perf_counter() - start)
                total += min(runs) * 1000
            db_ms.append(total)
        out["sql_statements_per_request"] = statistics.mean(len(s) for s in per_request)
        out["sql_statements_example"] = [s for s, _ in per_request[0]]
        out["db_round_trips_ms_per_request"] = round(statistics.median(db_ms), 3)

        # 2. Python CPU per request (this process only: the database's CPU is not counted).
        cpu = time.process_time()
        wall = time.perf_counter()
        for i in range(requests):
            await _call(app, payloads[i % len(payloads)], token)
        cpu_ms = (time.process_time() - cpu) * 1000 / requests
        out["python_cpu_ms_per_request"] = round(cpu_ms, 3)
        out["wall_ms_per_request_sequential"] = round(
            (time.perf_counter() - wall) * 1000 / requests, 3
        )
        out["max_rps_one_core_python_only"] = round(1000 / cpu_ms) if cpu_ms else None

        # 3. cProfile.
        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(requests):
            await _call(app, payloads[i % len(payloads)], token)
        profiler.disable()
        if dump:
            profiler.dump_stats(dump)
        out["own_time_by_package"] = _by_package(profiler)
        for sort in ("tottime", "cumulative"):
            text = io.StringIO()
            stats = pstats.Stats(profiler, stream=text)
            stats.sort_stats(sort).print_stats(top)
            out[f"profile_by_{sort}"] = text.getvalue()
    finally:
        await conn.close()
        await search_page.drain_cache()  # with NCM_SEARCH_CACHE_SECONDS: refreshes running
        await close_db()
    return out


async def _comment_payloads() -> tuple[list[bytes], str]:
    from bench.comments_bench import PAGE_QUERY, _viewer_token, deep_cursors
    from ncm.comments.models import CommentThread
    from ncm.comments.targets import ThreadRef
    from ncm.schema.base import to_global_id

    hot = await CommentThread.all().order_by("-comment_count").first()
    if hot is None:
        raise SystemExit("no comments: run `python -m bench.comments_bench` first")
    token = await _viewer_token(hot.id)
    thread = str(to_global_id("CommentThread", ThreadRef.of(hot).key))
    cursors: list[str | None] = [None, *await deep_cursors(hot.id, 1_000_000)]
    payloads = [
        json.dumps({"query": PAGE_QUERY, "variables": {"t": thread, "o": order, "a": c}}).encode()
        for order in ("NEWEST", "HOT")
        for c in cursors
        if order == "NEWEST" or c is None
    ]
    return payloads, token


def _package(path: str) -> str:
    if path.startswith("~") or path.startswith("<"):
        return "(builtins: C functions, socket calls)"
    parts = path.replace("\\", "/").split("/")
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1]
    for name in ("ncm", "bench", "asyncio"):
        if name in parts:
            return name
    return "(python stdlib)"


def _by_package(profiler: cProfile.Profile) -> dict[str, float]:
    """Own time per package, in percent of the profiled total."""
    stats = pstats.Stats(profiler)
    totals: dict[str, float] = {}
    for (path, _, _), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        package = _package(path)
        totals[package] = totals.get(package, 0.0) + own
    grand = sum(totals.values()) or 1.0
    ordered = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)
    return {k: round(100 * v / grand, 1) for k, v in ordered}


def run(database_url: str, target: str, requests: int, top: int, dump: str | None = None) -> Report:
    os.environ["NCM_DATABASE_URL"] = database_url
    os.environ.setdefault("NCM_LOG_LEVEL", "WARNING")
    from ncm.config import reset_settings

    reset_settings()
    report = Report(
        "profile", {"database_url": database_url, "target": target, "requests": requests}
    )
    report.machine = harness.machine_info(database_url)
    result = asyncio.run(_profile(database_url, target, requests, top, dump))
    report.results = result
    console.print(f"[bold]{target}[/bold], {requests:,} requests in-process (no HTTP)")
    console.print(
        f"SQL statements per request: {result['sql_statements_per_request']:.1f};"
        f" database time per request (statements re-run alone):"
        f" {result['db_round_trips_ms_per_request']:.2f} ms"
    )
    for sql in result["sql_statements_example"]:
        console.print(f"  {sql}", markup=False, highlight=False)
    console.print(
        f"Python CPU per request: {result['python_cpu_ms_per_request']:.2f} ms"
        f" (at most ~{result['max_rps_one_core_python_only']} req/s on one core, before HTTP"
        f" parsing); sequential wall time {result['wall_ms_per_request_sequential']:.2f} ms"
    )
    console.print(
        "own time by package (% of the profiled time; waiting for the database is in"
        " the event loop's select): "
        + ", ".join(f"{k} {v}%" for k, v in result["own_time_by_package"].items())
    )
    console.print(result["profile_by_tottime"], markup=False, highlight=False)
    console.print(result["profile_by_cumulative"], markup=False, highlight=False)
    return report
