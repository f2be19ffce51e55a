"""``python -m bench search``: GraphQL search, the heaviest words first.

Three query sets: the 20 most frequent tokens of the seeded tracks (``ts_stat`` over the
stored search vectors: the words with the most matches, the worst case), two-character
Chinese words and five-letter prefixes of English words (``ncm.seeding.words`` builds
titles from the same lists). The command counts each query's matches, drives
``search(query: $q, types: [TRACK], first: 20)`` with each set at each connection level,
then, for EVERY word of the heaviest set and the largest of the others, runs the service
in-process and its SQL alone (``EXPLAIN (ANALYZE, BUFFERS)`` and repeated executions) and
reports the worst word, not the median.
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import time
from typing import Any

from rich.table import Table

from bench import harness, loadgen
from bench.harness import Pinning, Report, console

SEARCH = (
    "query Search($q: String!) { search(query: $q, types: [TRACK], first: 20) {"
    " edges { cursor node { __typename ... on Track { id title durationMs"
    " artists { id name } album { id title coverUrl } } } }"
    " pageInfo { hasNextPage endCursor } } }"
)
QUERIES_PER_SET = 24
HEAVIEST = 20
HEAVY = f"{HEAVIEST} most frequent tokens"
TARGET_P99_MS = 30.0  # one connection, every word
TARGET_LOADED_P99_MS = 100.0  # 16 connections over the heaviest words
TARGET_LOADED_RPS = 300
DB_REPEATS = 20


def _candidates() -> dict[str, list[str]]:
    from ncm.seeding.words import EN_WORDS, ZH_WORDS

    return {
        "chinese 2-char word": sorted(set(ZH_WORDS)),
        "latin 5-letter prefix": sorted({w[:5] for w in EN_WORDS if len(w) >= 5}),
    }


async def _match_counts(database_url: str) -> tuple[int, dict[str, dict[str, int]]]:
    """Each candidate's matching tracks; keeps an evenly spread sample of each set."""
    import asyncpg

    from ncm.search.text import pg_tsquery, query_terms

    conn = await asyncpg.connect(harness.asyncpg_dsn(database_url))
    try:
        total = int(await conn.fetchval("SELECT count(*) FROM tracks"))
        sets: dict[str, dict[str, int]] = {}
        for name, words in _candidates().items():
            step = max(1, len(words) // QUERIES_PER_SET)
            counts = {}
            for word in words[::step][:QUERIES_PER_SET]:
                counts[word] = int(
                    await conn.fetchval(
                        "SELECT count(*) FROM tracks WHERE search_vector"
                        " @@ to_tsquery('simple', $1)",
                        pg_tsquery(query_terms(word)),
                    )
                )
            sets[name] = {w: c for w, c in counts.items() if c > 0}
        rows = await conn.fetch(
            "SELECT word, ndoc FROM ts_stat('SELECT search_vector FROM tracks')"
            f" ORDER BY ndoc DESC, word LIMIT {HEAVIEST}"
        )
        return total, {HEAVY: {r["word"]: int(r["ndoc"]) for r in rows}, **sets}
    finally:
        await conn.close()


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[tuple[str, list[Any]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "%s: %s" and isinstance(record.args, tuple) and len(record.args) == 2:
            query, values = record.args
            self.statements.append((str(query), list(values or [])))


async def _database_timing(database_url: str, words: dict[str, str]) -> dict[str, Any]:
    """The exact SQL the service runs (captured from Tortoise), explained and timed."""
    import asyncpg

    from ncm.kit.db import close_db, init_db
    from ncm.search.service import SearchType, search

    os.environ["NCM_DATABASE_URL"] = database_url
    await init_db(database_url)
    out: dict[str, Any] = {}
    logger = logging.getLogger("tortoise.db_client")
    # The API pool's session settings (ncm/kit/db.py): without them JIT compiles the tier
    # branches that never run, and the SQL alone looks 100x slower than the service.
    conn = await asyncpg.connect(
        harness.asyncpg_dsn(database_url),
        server_settings={"jit": "off", "max_parallel_workers_per_gather": "0"},
    )
    try:
        for label, word in words.items():
            capture = _Capture()
            level = logger.level
            logger.setLevel(logging.DEBUG)
            logger.addHandler(capture)
            try:
                await search(word, [SearchType.TRACK], 20, None)
            finally:
                logger.removeHandler(capture)
                logger.setLevel(level)
            sql, params = capture.statements[-1]
            plan = [r[0] for r in await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *params)]
            timings = []
            for _ in range(DB_REPEATS):
                start = time.perf_counter()
                await conn.fetch(sql, *params)
                timings.append((time.perf_counter() - start) * 1000)
            service = []
            for _ in range(DB_REPEATS):
                start = time.perf_counter()
                await search(word, [SearchType.TRACK], 20, None)
                service.append((time.perf_counter() - start) * 1000)
            timings.sort()
            service.sort()
            execution = next((p for p in plan if p.startswith("Execution Time")), "")
            out[label] = {
                "query": word,
                "sql": sql,
                "params": [str(p) for p in params],
                "plan": plan,
                "uses_gin_index": any("_search_" in p for p in plan),
                "explain_execution_ms": float(execution.split(":")[1].split()[0])
                if execution
                else None,
                "sql_p50_ms": round(statistics.median(timings), 2),
                "sql_p99_ms": round(loadgen.percentile(timings, 0.99), 2),
                "service_p50_ms": round(statistics.median(service), 2),
                "service_p99_ms": round(loadgen.percentile(service, 0.99), 2),
            }
    finally:
        await conn.close()
        await close_db()
    return out


def run(
    database_url: str,
    redis_url: str | None,
    connections: list[int],
    duration: float,
    warmup: float,
    pin: bool,
    cache_seconds: int = 0,
) -> Report:
    pinning = Pinning.choose(1, pin)
    report = Report(
        "search",
        {
            "database_url": database_url,
            "connections": connections,  # one run per level
            "duration": duration,
            "warmup": warmup,
            "pinning": pinning.describe(),
            "query": SEARCH,
            "search_cache_seconds": cache_seconds,  # NCM_SEARCH_CACHE_SECONDS of the server
        },
    )
    report.machine = harness.machine_info(database_url)
    busy = harness.busy_warning()
    if busy:
        report.notes.append(busy)
        console.print(f"[yellow]warning:[/yellow] {busy}")
    total, sets = asyncio.run(_match_counts(database_url))
    report.results["tracks"] = total
    for name, counts in sets.items():
        values = sorted(counts.values())
        report.results[f"match_sets {name}"] = counts
        console.print(
            f"{name}: {len(values)} queries, matches per query min {values[0]:,}"
            f" / median {values[len(values) // 2]:,} / max {values[-1]:,}"
            f" ({100 * values[len(values) // 2] / total:.2f}% of {total:,} tracks at the median)"
        )
    console.print(pinning.describe())
    results: dict[str, loadgen.Result] = {}
    settings = {"NCM_SEARCH_CACHE_SECONDS": str(cache_seconds)}
    console.print(
        f"first-page cache: {cache_seconds} s" if cache_seconds > 0 else "first-page cache: off"
    )

    def start() -> harness.Server:
        return harness.start_ncm(database_url, redis_url, 1, pinning, settings)

    with harness.running(start) as (ncm,):
        for name, counts in sets.items():
            sample = harness.post_json(
                ncm.port, {"query": SEARCH, "variables": {"q": next(iter(counts))}}
            )
            if "errors" in sample or not sample["data"]["search"]["edges"]:
                raise SystemExit(f"search returned nothing usable: {sample}")
            bodies = [
                {"query": SEARCH, "operationName": "Search", "variables": {"q": word}}
                for word in counts
            ]
            requests = harness.graphql_requests(ncm.port, bodies)
            for conns in connections:
                console.print(f"driving search ({name}): {conns} connections, {duration:.0f}s")
                results[f"{name}, {conns} conn"] = harness.drive(
                    ncm.port,
                    requests,
                    connections=conns,
                    duration=duration,
                    warmup=warmup,
                    pinning=pinning,
                )
    report.results["load"] = {k: vars(v) for k, v in results.items()}
    console.print(harness.load_table("search(query: $q, types: [TRACK], first: 20)", results))

    # Every heavy word, and the largest of each other set: the worst case is what counts.
    picks: dict[str, str] = {
        f"{HEAVY}: {word!r} ({count:,} matches)": word for word, count in sets[HEAVY].items()
    }
    for name, counts in sets.items():
        if name != HEAVY:
            largest = max(counts, key=lambda w: counts[w])
            picks[f"{name}, largest: {largest!r} ({counts[largest]:,} matches)"] = largest
    timing = asyncio.run(_database_timing(database_url, picks))
    report.results["database"] = timing
    worst = max(timing, key=lambda label: timing[label]["service_p99_ms"])
    console.print(f"\n[bold]the worst word[/bold], {worst}; its plan:")
    for line in timing[worst]["plan"]:
        console.print(f"  {line}", markup=False, highlight=False)
    table = Table(title=f"each word: SQL alone and search() in-process (x{DB_REPEATS})")
    for column in ("word", "execution ms", "SQL p50", "SQL p99", "search() p50", "search() p99"):
        table.add_column(column)
    for label, t in timing.items():
        table.add_row(
            label,
            str(t["explain_execution_ms"]),
            str(t["sql_p50_ms"]),
            str(t["sql_p99_ms"]),
            str(t["service_p50_ms"]),
            str(t["service_p99_ms"]),
        )
    console.print(table)
    report.results["worst_word"] = {"label": worst, **timing[worst]}
    console.print(
        f"worst word search() p99 {timing[worst]['service_p99_ms']} ms -- target <"
        f" {TARGET_P99_MS:.0f} ms: "
        + harness.verdict(timing[worst]["service_p99_ms"] < TARGET_P99_MS)
    )
    for name, r in results.items():
        if r.connections <= 1:
            target, met = f"p99 < {TARGET_P99_MS:.0f} ms", r.p99_ms < TARGET_P99_MS
        else:
            target = f"p99 < {TARGET_LOADED_P99_MS:.0f} ms and >= {TARGET_LOADED_RPS} req/s"
            met = r.p99_ms < TARGET_LOADED_P99_MS and r.rps >= TARGET_LOADED_RPS
        console.print(
            f"{name}: {r.rps:.0f} req/s, p99 {r.p99_ms:.1f} ms -- target {target}:"
            f" {harness.verdict(met)}"
        )
    report.machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return report
