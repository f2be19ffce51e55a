"""``python -m bench hotpath``: three GraphQL pages against a plain endpoint, side by side.

For each page -- the track page (random tracks), the search page (the 20 most frequent title
tokens of the catalog, the heaviest words; ``search(types: [TRACK], first: 20)``) and the
comment page (newest first, 20, at random depths of the largest thread down to its deepest
page, anonymous) -- the command:

1. starts ``ncm serve`` (``--workers``) and ``bench/plain_app.py`` (``--plain-workers``),
   pinned to the first core(s) when there is a core left for the load generator;
2. checks that both answer the same JSON for a sample of the requests;
3. runs ``wrk`` (Debian's; a Lua script picks a random body per request) against each in
   turn, on the remaining core, and reads requests/s and the latency percentiles.

The ratio ncm / plain is the goal of issue #18 (>= 0.5 for each page).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from bench import harness
from bench.harness import Pinning, Report, console
from bench.track_page import TRACK_PAGE, global_id, sample_track_ids

SEARCH_PAGE = (
    "query SearchPage($q: String!) { search(query: $q, types: [TRACK], first: 20) {"
    " edges { cursor node { __typename ... on Track { id title durationMs"
    " artists { id name } album { id title coverUrl } } } }"
    " pageInfo { hasNextPage endCursor } } }"
)
COMMENT_PAGE = (
    "query CommentPage($t: ID!, $a: String) { comments(threadId: $t, order: NEWEST, first: 20, after: $a) {"
    " edges { cursor node { id body likeCount replyCount createdAt likedByViewer"
    " author { id handle displayName avatarUrl } } }"
    " pageInfo { hasNextPage endCursor } } }"
)
GOAL = 0.5
CHECKED = 25
DEPTHS = 40


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int

    @classmethod
    def combined(cls, rounds: list[WrkResult]) -> WrkResult:
        """Rounds of equal length as one run: mean requests/s and p50, the worst p99."""
        return cls(
            rps=sum(r.rps for r in rounds) / len(rounds),
            p50_ms=sum(r.p50_ms for r in rounds) / len(rounds),
            p99_ms=max(r.p99_ms for r in rounds),
            requests=sum(r.requests for r in rounds),
            errors=sum(r.errors for r in rounds),
        )

    def row(self) -> list[str]:
        return [
            f"{self.rps:,.0f}",
            f"{self.p50_ms:.1f}",
            f"{self.p99_ms:.1f}",
            f"{self.requests:,}",
            str(self.errors),
        ]


async def _pages(database_url: str) -> dict[str, list[dict[str, Any]]]:
    """The request bodies of each page."""
    import asyncpg

    from ncm.kit.pagination import encode_cursor

    tracks = await sample_track_ids(database_url, 3000)
    conn = await asyncpg.connect(harness.asyncpg_dsn(database_url))
    try:
        words = [
            r["word"]
            for r in await conn.fetch(
                "SELECT word, ndoc FROM ts_stat('SELECT search_vector FROM tracks')"
                " ORDER BY ndoc DESC, word LIMIT 20"
            )
        ]
        hot = await conn.fetchrow(
            "SELECT id, target_type, target_id, comment_count FROM comment_threads"
            " ORDER BY comment_count DESC LIMIT 1"
        )
        if hot is None or not hot["comment_count"]:
            raise SystemExit("no comments: seed with `python -m bench seed --comments N`")
        listed = int(
            await conn.fetchval(
                "SELECT count(*) FROM comments WHERE thread_id = $1 AND listed"
                " AND parent_id IS NULL",
                hot["id"],
            )
        )
        cursors = []
        step = max(1, (listed - 21) // DEPTHS)
        depths = [*list(range(0, max(listed - 21, 1), step))[:DEPTHS], max(listed - 21, 0)]
        for depth in depths:
            row = await conn.fetchrow(
                "SELECT created_at, id FROM comments WHERE thread_id = $1 AND listed"
                " AND parent_id IS NULL ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1",
                hot["id"],
                depth,
            )
            if row is not None:
                cursors.append(encode_cursor([row["created_at"].isoformat(), row["id"]]))
    finally:
        await conn.close()
    thread = _thread_id(hot)
    return {
        "track page": [
            {"query": TRACK_PAGE, "operationName": "TrackPage", "variables": {"id": t}}
            for t in (global_id("Track", pk) for pk in tracks)
        ],
        "search page": [
            {"query": SEARCH_PAGE, "operationName": "SearchPage", "variables": {"q": w}}
            for w in words
        ],
        "comment page": [
            {
                "query": COMMENT_PAGE,
                "operationName": "CommentPage",
                "variables": {"t": thread, "a": c},
            }
            for c in cursors
        ],
    }


def _thread_id(hot: Any) -> str:
    from ncm.comments.models import TargetType
    from ncm.comments.targets import ThreadRef
    from ncm.schema.base import to_global_id

    ref = ThreadRef(TargetType(hot["target_type"]), int(hot["target_id"]))
    return str(to_global_id("CommentThread", ref.key))


def _check(pages: dict[str, list[dict[str, Any]]], ncm_port: int, plain_port: int) -> None:
    for name, bodies in pages.items():
        for body in bodies[:CHECKED]:
            real = harness.post_json(ncm_port, body)
            plain = harness.post_json(plain_port, body)
            if "errors" in real or real != plain:
                raise SystemExit(
                    f"{name}: answers differ for {body['variables']}:\n"
                    f"ncm:   {str(real)[:1500]}\nplain: {str(plain)[:1500]}"
                )
        console.print(
            f"{name}: both servers answer the same JSON ({min(CHECKED, len(bodies))} compared)"
        )


def _lua(bodies: list[dict[str, Any]]) -> str:
    import json

    items = ",\n".join(f"[==[{json.dumps(b, ensure_ascii=False)}]==]" for b in bodies)
    return (
        f"local bodies = {{\n{items}\n}}\n"
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.headers["Accept"] = "application/json"\n'
        "errors = 0\n"
        "local threads = {}\n"
        "function setup(thread) table.insert(threads, thread) end\n"
        "function init(args) math.randomseed(os.time() + math.random(1000)) end\n"
        "request = function()\n"
        "  return wrk.format(nil, '/graphql', nil, bodies[math.random(#bodies)])\n"
        "end\n"
        "response = function(status, headers, body)\n"
        "  if status ~= 200 or string.find(body, '\"errors\"', 1, true) then\n"
        "    errors = errors + 1\n"
        "  end\n"
        "end\n"
        "function done(summary, latency, requests)\n"
        "  local total = 0\n"
        "  for _, t in ipairs(threads) do total = total + t:get('errors') end\n"
        "  io.write(string.format('ERRORS %d\\n', total))\n"
        "end\n"
    )


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip()).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def wrk(port: int, script: Path, connections: int, duration: float, pinning: Pinning) -> WrkResult:
    command = [
        *pinning.prefix(pinning.client),
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{int(duration)}s",
        "--latency",
        "-s",
        str(script),
        f"http://{harness.HOST}:{port}",
    ]
    out = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    text = out.stdout
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{text}\n{out.stderr}")
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)", text, re.M))
    return WrkResult(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(percentiles["50"]),
        p99_ms=_ms(percentiles["99"]),
        requests=int(re.search(r"(\d+) requests in", text).group(1)),  # type: ignore[union-attr]
        errors=int(re.search(r"ERRORS (\d+)", text).group(1))  # type: ignore[union-attr]
        + int((re.search(r"Non-2xx or 3xx responses: (\d+)", text) or [0, 0])[1]),
    )


def run(
    database_url: str,
    redis_url: str | None,
    connections: int,
    duration: float,
    warmup: float,
    workers: int,
    plain_workers: int,
    pin: bool,
    only: list[str] | None,
    py_spy: Path | None = None,
    rounds: int = 3,
) -> Report:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    if py_spy is not None:
        if harness.py_spy() is None:
            raise SystemExit("py-spy is missing: pip install py-spy (not a project dependency)")
        py_spy.mkdir(parents=True, exist_ok=True)
    pinning = Pinning.choose(max(workers, plain_workers), pin)
    report = Report(
        "hotpath",
        {
            "database_url": database_url,
            "connections": connections,
            "duration": duration,
            "workers": workers,
            "plain_workers": plain_workers,
            "pinning": pinning.describe(),
            "load generator": "wrk -t1, a Lua script picking a random body per request",
            "rounds": rounds,
        },
    )
    report.machine = harness.machine_info(database_url)
    console.print(f"load average before: {report.machine['load_average']}; {pinning.describe()}")
    pages = asyncio.run(_pages(database_url))
    if only:
        pages = {k: v for k, v in pages.items() if k.split()[0] in only}
    results: dict[str, dict[str, WrkResult]] = {}
    rounds_of: dict[str, list[float]] = {}
    scripts = tempfile.TemporaryDirectory(prefix="bench-hotpath-")
    with (
        scripts,
        harness.running(
            lambda: harness.start_ncm(database_url, redis_url, workers, pinning),
            lambda: harness.start_plain(database_url, pinning, plain_workers),
        ) as (ncm, plain),
    ):
        _check(pages, ncm.port, plain.port)
        for name, bodies in pages.items():
            script = Path(scripts.name) / f"{name.split()[0]}.lua"
            script.write_text(_lua(bodies))
            servers = {"ncm GraphQL": ncm, "plain": plain}
            for server in servers.values():
                if warmup:
                    wrk(server.port, script, connections, warmup, pinning)
            # ABBA...: ncm first in even rounds, plain first in odd ones.
            slice_ = max(1, round(duration / rounds))
            taken: dict[str, list[WrkResult]] = {label: [] for label in servers}
            for turn in range(rounds):
                for label in list(servers)[:: 1 if turn % 2 == 0 else -1]:
                    server = servers[label]
                    sampled: Any = contextlib.nullcontext()
                    if py_spy is not None and server is ncm:  # the server's stacks meanwhile
                        output = py_spy / f"{name.split()[0]}-{turn}.txt"
                        sampled = harness.sampling(
                            server.process.pid, output, max(1, slice_ - 2), pinning
                        )
                    with sampled:
                        taken[label].append(wrk(server.port, script, connections, slice_, pinning))
            results[name] = {label: WrkResult.combined(r) for label, r in taken.items()}
            per_round = [
                a.rps / b.rps for a, b in zip(taken["ncm GraphQL"], taken["plain"], strict=True)
            ]
            for label, result in results[name].items():
                console.print(f"{name}, {label}: {result}")
            console.print(
                f"{name}, ncm/plain per round: {', '.join(f'{r:.2f}' for r in per_round)}"
            )
            rounds_of[name] = per_round
    load_after = [round(x, 2) for x in os.getloadavg()]
    report.machine["load_average_after"] = load_after
    table = Table(
        title=f"ncm ({workers} worker(s)) vs plain ({plain_workers}), wrk -c{connections},"
        f" {duration:.0f}s each in {rounds} turns; load average after {load_after}"
    )
    for column in (
        "page",
        "server",
        "req/s",
        "p50 ms",
        "p99 ms",
        "requests",
        "errors",
        "ncm/plain",
    ):
        table.add_column(column, justify="left" if column in ("page", "server") else "right")
    for name, pair in results.items():
        real, floor = pair["ncm GraphQL"], pair["plain"]
        ratio = real.rps / floor.rps if floor.rps else 0.0
        table.add_row(name, "ncm GraphQL", *real.row(), f"{ratio:.2f}")
        table.add_row("", "plain", *floor.row(), "")
        report.results[name] = {k: vars(v) for k, v in pair.items()}
        report.results[name]["ratio"] = round(ratio, 3)
        report.results[name]["ratio_per_round"] = [round(r, 3) for r in rounds_of[name]]
    console.print(table)
    for name in results:
        ratio = report.results[name]["ratio"]
        console.print(
            f"{name}: ncm/plain {ratio:.2f}, goal >= {GOAL}: {harness.verdict(ratio >= GOAL)}"
        )
    return report
