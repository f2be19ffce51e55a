"""Loading many rows: COPY on asyncpg (with a SQLite fallback), id ranges, index rebuilds.

These work on a raw asyncpg connection taken from Tortoise's pool (:func:`raw_connection`),
where COPY and explicit transactions live; the SQLite fallback of :func:`copy_rows` goes
through Tortoise's client instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from itertools import islice
from typing import Any

from tortoise import connections

from ncm.errors import InvalidInput
from ncm.kit.sql.sets import SQLITE_MAX_VARIABLES, names

MAX_ID = 2**40  # reserved ids stay far below BIGINT even multiplied by small factors


@asynccontextmanager
async def raw_connection() -> AsyncIterator[Any]:
    """An asyncpg connection of Tortoise's pool, for COPY and explicit transactions."""
    client: Any = connections.get("default")
    async with client.acquire_connection() as conn:
        yield conn


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def inserted_count(status: str) -> int:
    """The row count of an asyncpg command status (``INSERT 0 <n>``, ``COPY <n>``)."""
    return int(status.split()[-1])


async def copy_rows(
    table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], conn: Any = None
) -> int:
    """Writes ``rows`` (tuples in ``columns`` order) into ``table``: binary COPY on an asyncpg
    connection (``conn``, or one of the pool's), plain multi-row INSERTs on SQLite. Rows are
    consumed lazily. Returns the number of rows written."""
    client: Any = connections.get("default")
    if conn is None and client.capabilities.dialect == "postgres":
        async with raw_connection() as raw:
            return await copy_rows(table, columns, rows, raw)
    if conn is not None:
        status = await conn.copy_records_to_table(table, records=rows, columns=list(columns))
        return inserted_count(status)
    written = 0
    one = f"({', '.join('?' * len(columns))})"
    size = max(1, SQLITE_MAX_VARIABLES // len(columns))
    head = f"INSERT INTO {quote_ident(table)} ({names(columns)}) VALUES "
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        sql = head + ", ".join([one] * len(batch))
        await client.execute_query(sql, [value for row in batch for value in row])
        written += len(batch)
    return written


async def reserve_ids(conn: Any, table: str, count: int) -> int:
    """The first of ``count`` ids after every existing one; the table's sequence moves past
    them, so ordinary inserts never take one (PostgreSQL)."""
    seq = await conn.fetchval("SELECT pg_get_serial_sequence($1, 'id')", table)
    async with conn.transaction():
        # Inserts wait meanwhile, so nobody takes an id from the range in between.
        await conn.execute(f"LOCK TABLE {quote_ident(table)} IN SHARE ROW EXCLUSIVE MODE")
        last = await conn.fetchval(
            f"SELECT greatest((SELECT coalesce(max(id), 0) FROM {quote_ident(table)}),"
            f" (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {seq}))"
        )
        first = int(last) + 1
        if first + count > MAX_ID:
            raise InvalidInput(f"{table} ids would pass {MAX_ID:,}.")
        await conn.execute("SELECT setval($1, $2, true)", seq, first + count - 1)
    return first


async def estimated_rows(conn: Any, table: str) -> int:
    """The planner's row count of the table (exact when it was never analyzed)."""
    estimate = await conn.fetchval(
        "SELECT reltuples::bigint FROM pg_class WHERE oid = $1::regclass", table
    )
    if estimate is None or estimate < 0:  # never vacuumed or analyzed
        return int(await conn.fetchval(f"SELECT count(*) FROM {quote_ident(table)}"))
    return int(estimate)


async def index_statements(conn: Any, table: str, *, unique: bool = True) -> list[tuple[str, str]]:
    """``(drop, create)`` statements for the table's indexes, to rebuild them in bulk after
    a big load (several times cheaper than row by row, for GIN above all).

    With ``unique``, unique constraints and the primary key are included too, unless a
    foreign key depends on their index; without, only plain secondary indexes.
    """
    rows = await conn.fetch(
        """
        SELECT n.nspname, ic.relname, pg_get_indexdef(i.indexrelid) AS indexdef,
               con.conname, pg_get_constraintdef(con.oid) AS condef
        FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_namespace n ON n.oid = ic.relnamespace
        LEFT JOIN pg_constraint con
          ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
         AND con.contype IN ('p', 'u', 'x')
        WHERE i.indrelid = $1::regclass
          AND ($2 OR NOT (i.indisprimary OR i.indisunique))
          AND NOT EXISTS (
            SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = i.indexrelid)
        ORDER BY i.indisprimary DESC, ic.relname
        """,
        table,
        unique,
    )
    statements = []
    name = quote_ident(table)
    for r in rows:
        if r["conname"]:
            constraint = quote_ident(r["conname"])
            statements.append(
                (
                    f"ALTER TABLE {name} DROP CONSTRAINT {constraint}",
                    f"ALTER TABLE {name} ADD CONSTRAINT {constraint} {r['condef']}",
                )
            )
        else:
            qualified = f"{quote_ident(r['nspname'])}.{quote_ident(r['relname'])}"
            statements.append((f"DROP INDEX {qualified}", r["indexdef"]))
    return statements
