"""What a pooled connection's release costs: asyncpg's shielded ``Pool.release`` against
``ncm.kit.pgpool.LeanPool`` (no ``asyncio.shield`` when the release cannot wait).

``python -m bench.pool_release [--database-url URL] [--statements 5000] [--concurrency 1,8]``

Runs a one-row primary-key read through each pool (4 connections, ``PooledConnection``) from
1 and from 8 concurrent tasks, in alternating order, twice, and prints the process's CPU time
and the wall time per statement. Any bench database with ``tracks`` will do (``bench seed``).
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncpg

from bench.harness import asyncpg_dsn
from ncm.kit.pgpool import LeanPool, PooledConnection

QUERY = "SELECT id, title FROM tracks WHERE id = $1"


async def _measure(dsn: str, lean: bool, statements: int, concurrency: int) -> tuple[float, float]:
    pool = await asyncpg.create_pool(dsn, min_size=4, max_size=4, connection_class=PooledConnection)
    if lean:
        pool.__class__ = LeanPool
    try:
        for i in range(200):  # warm: connections, the statement cache
            await pool.fetch(QUERY, i + 1)
        each = statements // concurrency

        async def worker(offset: int) -> None:
            for i in range(each):
                await pool.fetch(QUERY, offset + i + 1)

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(k * each) for k in range(concurrency)))
        done = each * concurrency
        return (
            (time.process_time() - cpu) / done * 1e6,
            (time.perf_counter() - wall) / done * 1e6,
        )
    finally:
        await pool.close()


async def main(dsn: str, statements: int, levels: list[int]) -> None:
    for concurrency in levels:
        for attempt in range(2):
            for lean in (False, True) if attempt == 0 else (True, False):
                cpu, wall = await _measure(dsn, lean, statements, concurrency)
                label = "LeanPool        " if lean else "asyncpg's release"
                print(
                    f"{concurrency:2d} tasks, {label}: {cpu:6.1f} µs CPU, {wall:6.1f} µs wall"
                    " per statement"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1/ncm_bench")
    parser.add_argument("--statements", type=int, default=5000)
    parser.add_argument("--concurrency", default="1,8")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    asyncio.run(main(asyncpg_dsn(args.database_url), args.statements, levels))
