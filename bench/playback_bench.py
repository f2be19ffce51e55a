"""Playback (issue #5's targets).

    python -m bench.playback_bench [--size-mb 50] [--range-mb 1] [--rounds 3] [--iterations 200000]

1. Signature verification: ``ncm.stream.signing.verify`` on a preview URL's parts, timed
   over ``--iterations`` calls (target < 20 us per call).
2. SQL per ``playbacks``: a scratch SQLite database (migrated, 50 tracks of every fee policy),
   the statements Tortoise sends for a queue of 1 and of 50 tracks, counted in-process
   through the same logger the tests count (target: equal). The test
   ``tests/stream/test_graphql_playback.py::test_a_queue_of_50_costs_the_sql_of_one_track``
   asserts it on PostgreSQL and SQLite.
3. ``/stream``: a ``--size-mb`` file under a scratch media root, ``ncm serve`` (one worker,
   uvicorn) on port 8851; the whole file read by sequential ``--range-mb`` Range requests
   and by one plain GET, ``--rounds`` times each, over a keep-alive connection. Reports MB/s
   beside a plain ``read()`` of the same file in Python (page cache), and the server's RSS
   before, after and its peak (``VmHWM``): flat memory means the peak does not grow with the
   file.

Nothing needs PostgreSQL or Redis. Figures are noisy when something else runs on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PORT = 8851


def bench_verify(iterations: int) -> dict[str, Any]:
    from ncm.stream.signing import Grant, sign, verify

    keys = {"k2": "a" * 64, "k1": "b" * 64}
    url = sign(
        Grant(123456, 654321, "t/123456/exhigh.mp3", 987654321, 2_000_000_000, "k2", (0, 479_999)),
        keys,
    )
    query = url.partition("?")[2]
    params = dict(part.split("=", 1) for part in query.split("&"))
    args = (123456, 654321, "t/123456/exhigh.mp3", params, keys, 1_900_000_000.0)
    verify(*args)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(iterations // 5):
            verify(*args)
        best = min(best, (time.perf_counter() - started) / (iterations // 5))
    return {"us_per_verify_best_of_5": round(best * 1e6, 2), "target_us": 20}


class _Counter(logging.Handler):
    """The statements Tortoise logs (as ``tests/conftest.py``'s ``count_queries``)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "%s: %s" and record.args:
            self.statements.append(str(record.args[0]))  # type: ignore[index]


async def _sql_counts(workdir: Path) -> dict[str, Any]:
    os.environ["NCM_DATABASE_URL"] = f"sqlite://{workdir / 'bench.sqlite3'}"
    from ncm.config import reset_settings

    reset_settings()
    from ncm.accounts import service as accounts
    from ncm.catalog.models import Album, Artist, FeePolicy, License, Quality, Rendition, Track
    from ncm.kit.db import close_db, init_db
    from ncm.kit.migrate import upgrade
    from ncm.stream import service

    await upgrade()
    await init_db()
    try:
        user = await accounts.create_user("listener@example.com", "listener1", "quiet-harbor-77")
        artist = await Artist.create(name="A")
        album = await Album.create(title="B", artist=artist)
        fees = list(FeePolicy)
        await Track.bulk_create(
            [
                Track(title=f"T{i}", album=album, duration_ms=180_000, fee_policy=fees[i % 3])
                for i in range(50)
            ]
        )
        ids = sorted(await Track.all().values_list("id", flat=True))
        await Rendition.bulk_create(
            [
                Rendition(
                    track_id=t,
                    quality=q,
                    bitrate=128,
                    format="mp3",
                    size_bytes=1000,
                    path=f"q/{t}/{q.value}.mp3",
                )
                for t in ids
                for q in (Quality.STANDARD, Quality.EXHIGH)
            ]
        )
        await License.bulk_create([License(track_id=t, region="*") for t in ids])
        counts = {}
        for n in (1, 50):
            logger = logging.getLogger("tortoise.db_client")
            handler = _Counter()
            logger.setLevel(logging.DEBUG)
            logger.addHandler(handler)
            try:
                results = await service.playbacks(user.id, ids[:n], base_url="http://x")
            finally:
                logger.removeHandler(handler)
            assert len(results) == n
            counts[f"sql_for_{n}_tracks"] = len(handler.statements)
        return counts
    finally:
        await close_db()


def _rss(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) // 1024  # MiB
    return fields


def _fetch(conn: http.client.HTTPConnection, url: str, headers: dict[str, str]) -> int:
    conn.request("GET", url, headers=headers)
    response = conn.getresponse()
    got = 0
    while chunk := response.read(1 << 20):
        got += len(chunk)
    assert response.status in (200, 206), response.status
    return got


def bench_stream(workdir: Path, size_mb: int, range_mb: int, rounds: int) -> dict[str, Any]:
    from bench import harness
    from ncm.stream.signing import Grant, sign

    media = workdir / "media"
    target = media / "big" / "file.wav"
    target.parent.mkdir(parents=True)
    block = os.urandom(1 << 20)
    with target.open("wb") as out:
        for _ in range(size_mb):
            out.write(block)
    size = target.stat().st_size
    keys = {"k1": "bench-stream-key-" + "x" * 32}
    url = sign(Grant(1, 1, "big/file.wav", 1, int(time.time()) + 3600, "k1"), keys)

    started = time.perf_counter()
    for _ in range(rounds):
        with target.open("rb") as handle:
            while handle.read(256 * 1024):
                pass
    plain = size * rounds / (time.perf_counter() - started) / 1e6

    env = {
        **os.environ,
        "NCM_DATABASE_URL": f"sqlite://{workdir / 'serve.sqlite3'}",
        "NCM_MEDIA_ROOT": str(media),
        "NCM_STREAM_SIGNING_KEYS": "k1:" + keys["k1"],
        "NCM_LOG_LEVEL": "WARNING",
    }
    env.pop("NCM_REDIS_URL", None)
    command = [sys.executable, "-m", "ncm.cli", "serve", "--port", str(PORT)]
    server = harness._start("ncm-stream", command, env, PORT, "/healthz")
    try:
        before = _rss(server.process.pid)
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
        step = range_mb << 20
        started = time.perf_counter()
        for _ in range(rounds):
            for start in range(0, size, step):
                end = min(size, start + step) - 1
                assert _fetch(conn, url, {"range": f"bytes={start}-{end}"}) == end - start + 1
        ranged = size * rounds / (time.perf_counter() - started) / 1e6
        started = time.perf_counter()
        for _ in range(rounds):
            assert _fetch(conn, url, {}) == size
        whole = size * rounds / (time.perf_counter() - started) / 1e6
        conn.close()
        after = _rss(server.process.pid)
    finally:
        server.stop()
    return {
        "file_mb": size_mb,
        "range_mb": range_mb,
        "rounds": rounds,
        "mb_per_s_plain_python_read": round(plain, 1),
        "mb_per_s_stream_ranges": round(ranged, 1),
        "mb_per_s_stream_whole_file": round(whole, 1),
        "server_rss_mib_before": before.get("VmRSS"),
        "server_rss_mib_after": after.get("VmRSS"),
        "server_peak_rss_mib_before": before.get("VmHWM"),
        "server_peak_rss_mib_after": after.get("VmHWM"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=50)
    parser.add_argument("--range-mb", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=200_000)
    args = parser.parse_args()
    from bench import harness

    warning = harness.busy_warning()
    if warning:
        harness.console.print(f"[yellow]{warning}[/yellow]")
    results: dict[str, Any] = {"load_average_before": os.getloadavg()[0]}
    results["verify"] = bench_verify(args.iterations)
    with tempfile.TemporaryDirectory(prefix="ncm-playback-bench-") as tmp:
        results["sql"] = asyncio.run(_sql_counts(Path(tmp)))
        results["stream"] = bench_stream(Path(tmp), args.size_mb, args.range_mb, args.rounds)
    results["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
