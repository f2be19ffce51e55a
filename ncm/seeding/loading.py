"""The database side of the scale seeds: loading sessions, one table's load with its indexes
rebuilt around it, and the report (rows, seconds, CPU seconds). PostgreSQL only; the raw SQL
itself (COPY, id ranges, index statements) is :mod:`ncm.kit.sql.load`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from tortoise import connections

from ncm.kit.db import session_settings
from ncm.kit.progress import Echo
from ncm.kit.sql import estimated_rows, index_statements, raw_connection

MAINTENANCE_WORK_MEM = "1GB"
REBUILD_MIN_ROWS = 10_000  # below this, indexes are maintained row by row


@contextlib.asynccontextmanager
async def bulk_session(*, fk_off: bool, timestamps_as_tuples: bool = False) -> AsyncIterator[Any]:
    """A raw connection set up for bulk loading: a large ``maintenance_work_mem``, no waiting
    for the WAL flush, and, with ``fk_off``, no row-by-row foreign key checks (only for rows
    consistent by construction). Its settings are reset before it goes back to the pool.

    ``timestamps_as_tuples``: timestamptz values go in and out in asyncpg's ``tuple`` format
    (microseconds since 2000-01-01 UTC), which is cheaper to produce than datetimes.
    """
    sets = f"SET maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'; SET synchronous_commit = off"
    if fk_off:
        sets += "; SET session_replication_role = replica"
    async with raw_connection() as conn, session_settings(conn, sets):
        if not timestamps_as_tuples:
            yield conn
            return
        await conn.set_type_codec(
            "timestamptz", schema="pg_catalog", encoder=_identity, decoder=_identity, format="tuple"
        )
        try:
            yield conn
        finally:
            # The connection goes back to Tortoise's pool as it came, or not at all.
            try:
                await conn.reset_type_codec("timestamptz", schema="pg_catalog")
            except Exception:
                conn.terminate()


def _identity(value: Any) -> Any:
    return value


def backend_cpu(pid: int) -> float | None:
    """CPU seconds a local PostgreSQL backend has used (a diagnostic: the machine may be
    shared, so wall times alone do not say where the time went); None if not local."""
    client: Any = connections.get("default")
    if str(getattr(client, "host", "")) not in ("127.0.0.1", "localhost", "::1"):
        return None
    try:
        with open(f"/proc/{pid}/comm") as comm:
            if "postgres" not in comm.read():
                return None
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


async def can_skip_fk_checks(tables: list[str]) -> bool:
    """Whether loading sessions may run as ``session_replication_role = replica``.

    That skips the row-by-row foreign key checks, and every other trigger: so not if one of
    the tables has a trigger of its own (none does today).
    """
    from asyncpg.exceptions import InsufficientPrivilegeError

    async with raw_connection() as conn:
        triggers = await conn.fetchval(
            "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal"
            " AND tgrelid = ANY(SELECT to_regclass(t) FROM unnest($1::text[]) t)",
            tables,
        )
        if triggers:
            return False
        try:
            async with session_settings(conn, "SET session_replication_role = replica"):
                return True
        except InsufficientPrivilegeError:
            return False


@dataclass
class Load:
    rows: int


@dataclass
class Report:
    echo: Echo
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def phase(self, name: str) -> AsyncIterator[None]:
        start = perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + perf_counter() - start

    @contextlib.asynccontextmanager
    async def session(self, lane: str, *, fk_off: bool) -> AsyncIterator[Any]:
        """A :func:`bulk_session` whose backend's CPU seconds are reported as ``db_<lane>``."""
        async with bulk_session(fk_off=fk_off, timestamps_as_tuples=True) as conn:
            backend = await conn.fetchval("SELECT pg_backend_pid()")
            cpu_before = backend_cpu(backend)
            try:
                yield conn
            finally:
                cpu_after = backend_cpu(backend)
                if cpu_before is not None and cpu_after is not None:
                    self.cpu[f"db_{lane}"] = round(cpu_after - cpu_before, 2)


class Loader:
    """One table's load in one transaction, indexes dropped and rebuilt around it if big."""

    def __init__(self, rebuild: bool | None, report: Report) -> None:
        self.rebuild = rebuild
        self.report = report

    @contextlib.asynccontextmanager
    async def table(self, conn: Any, table: str, adding: int) -> AsyncIterator[Load]:
        """``adding``: the expected row count (set ``.rows`` to the real one if it differs).

        ``rebuild`` None decides per table: at least 10,000 rows and half the table's size.
        An interrupted load rolls back and leaves every index in place.
        """
        rebuild = self.rebuild
        if rebuild is None:
            existing = await estimated_rows(conn, table)
            rebuild = adding >= REBUILD_MIN_ROWS and adding >= existing // 2
        start = perf_counter()
        load = Load(adding)
        async with conn.transaction():
            indexes = await index_statements(conn, table) if rebuild else []
            for drop, _ in indexes:
                await conn.execute(drop)
            yield load
            loaded = perf_counter()
            for _, create in indexes:
                await conn.execute(create)
        end = perf_counter()
        seconds, rows = self.report.seconds, self.report.rows
        seconds[f"{table}_load"] = round(loaded - start, 2)
        seconds[f"{table}_indexes"] = round(end - loaded, 2)
        rows[table] = rows.get(table, 0) + load.rows
        rate = load.rows / (end - start) if end > start else 0.0
        rebuilt = f", {len(indexes)} indexes rebuilt in {end - loaded:.1f}s" if indexes else ""
        self.report.echo(
            f"  {table}: {load.rows:,} rows in {end - start:.1f}s ({rate:,.0f} rows/s){rebuilt}"
        )


async def run_all(*work: Coroutine[Any, Any, None]) -> None:
    """Run concurrently; if one fails, cancel the others (their transactions roll back)."""
    tasks = [asyncio.create_task(w) for w in work]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    # Millions of short-lived tuples and no cycles: the cyclic collector only costs time.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
