"""``python -m bench track-page``: the GraphQL track page against a plain endpoint."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from bench import harness, loadgen
from bench.harness import Pinning, Report, console

TRACK_PAGE = (
    "query TrackPage($id: ID!) { track(id: $id) { id title durationMs isrc explicit feePolicy"
    " playCount artists { id name } album { id title coverUrl releaseDate }"
    " genres { slug name } } }"
)
SAMPLE = 20_000  # distinct track ids the load generator picks from
TARGET_RPS = 600
TARGET_P99_MS = 50.0


def global_id(kind: str, pk: int) -> str:
    import base64

    return base64.urlsafe_b64encode(f"{kind}:{pk}".encode()).decode()


async def sample_track_ids(database_url: str, n: int = SAMPLE) -> list[int]:
    import asyncpg

    conn = await asyncpg.connect(harness.asyncpg_dsn(database_url))
    try:
        total = int(await conn.fetchval("SELECT count(*) FROM tracks"))
        if total == 0:
            raise SystemExit("no tracks: run `python -m bench seed` first")
        fraction = min(1.0, 1.5 * n / total)
        rows = await conn.fetch("SELECT id FROM tracks WHERE random() < $1 LIMIT $2", fraction, n)
        return [r["id"] for r in rows]
    finally:
        await conn.close()


def body(track_id: int) -> dict[str, Any]:
    return {
        "query": TRACK_PAGE,
        "operationName": "TrackPage",
        "variables": {"id": global_id("Track", track_id)},
    }


def check_same_answers(ids: list[int], ncm_port: int, plain_port: int) -> int:
    """Both servers must answer the same JSON, or the comparison means nothing."""
    for track_id in ids:
        real = harness.post_json(ncm_port, body(track_id))
        plain = harness.post_json(plain_port, body(track_id))
        if "errors" in real or real != plain:
            raise SystemExit(f"answers differ for track {track_id}:\nncm:   {real}\nplain: {plain}")
    return len(ids)


def run(
    database_url: str,
    redis_url: str | None,
    connections: int,
    duration: float,
    warmup: float,
    workers: int,
    pin: bool,
    calibrate: bool,
) -> Report:
    pinning = Pinning.choose(workers, pin)
    report = Report(
        "track-page",
        {
            "database_url": database_url,
            "connections": connections,
            "duration": duration,
            "warmup": warmup,
            "workers": workers,
            "pinning": pinning.describe(),
            "query": TRACK_PAGE,
        },
    )
    report.machine = harness.machine_info(database_url)
    busy = harness.busy_warning()
    if busy:
        report.notes.append(busy)
        console.print(f"[yellow]warning:[/yellow] {busy}")
    ids = asyncio.run(sample_track_ids(database_url))
    console.print(f"{len(ids):,} random track ids; {pinning.describe()}")
    bodies = [body(i) for i in ids]
    results: dict[str, loadgen.Result] = {}
    with harness.running(
        lambda: harness.start_ncm(database_url, redis_url, workers, pinning),
        lambda: harness.start_plain(database_url, pinning),
    ) as (ncm, plain):
        checked = check_same_answers(ids[:25], ncm.port, plain.port)
        console.print(f"both servers answer the same JSON ({checked} tracks compared)")
        for name, server in (("ncm GraphQL", ncm), ("plain Starlette+asyncpg", plain)):
            console.print(f"driving {name}: {connections} connections, {duration:.0f}s ...")
            results[name] = harness.drive(
                server.port,
                harness.graphql_requests(server.port, bodies),
                connections=connections,
                duration=duration,
                warmup=warmup,
                pinning=pinning,
            )
        if calibrate:
            results["plain GET /healthz (load generator ceiling)"] = harness.drive(
                plain.port,
                [loadgen.http_get(harness.HOST, plain.port, "/healthz")],
                connections=connections,
                duration=min(duration, 10.0),
                warmup=1.0,
                pinning=pinning,
                error_marker=None,
            )
    report.machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report.results = {k: vars(v) for k, v in results.items()}
    console.print(harness.load_table(f"track page, {connections} connections", results))
    real, plain_result = results["ncm GraphQL"], results["plain Starlette+asyncpg"]
    ratio = real.rps / plain_result.rps if plain_result.rps else 0.0
    report.results["ratio_ncm_to_plain"] = round(ratio, 3)
    console.print(f"ratio ncm/plain (req/s): {ratio:.2f}")
    console.print(
        f"target >= {TARGET_RPS} req/s on one worker: {harness.verdict(real.rps >= TARGET_RPS)};"
        f" p99 < {TARGET_P99_MS:.0f} ms: {harness.verdict(real.p99_ms < TARGET_P99_MS)}"
    )
    return report
