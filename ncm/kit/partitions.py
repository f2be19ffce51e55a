"""Event tables range-partitioned by day on PostgreSQL (SQLite keeps plain tables).

A domain declares its partitioned tables in its ``retention`` module (loaded through
``ncm.domains.load_retention``): :func:`partitioned_by_day` names the table and its day
column, and :func:`rollup_check` registers a ``covers(day)`` callable per rollup that reads
the table: a partition past the retention period is dropped only when every check says its
days are rolled up (the rollups are what reports read afterwards). The kit knows no domain:
the checks come to it.

Each table has one partition per UTC day (``<table>_pYYYYMMDD``), created ahead by
:func:`ensure`; a ``<table>_default`` partition catches rows of days without one (a
hand-written insert of an old day, a cron that did not run) and :func:`ensure` moves them into
their day's partition when it creates it. A table converted by the migration keeps its old
rows in one ``<table>_legacy`` partition spanning their days (no copy), dropped as a whole
once its last day has expired and is covered.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ncm.config import get_settings
from ncm.kit.jobs import cron_job

log = logging.getLogger("ncm.kit.partitions")

Covers = Callable[[date], Awaitable[bool]]
BOUNDS = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class Check:
    name: str
    covers: Covers


@dataclass
class Table:
    name: str
    column: str
    kind: str  # "date" or "timestamptz"
    checks: list[Check] = field(default_factory=list)

    def bound(self, day: date) -> str:
        """A partition bound for the start of ``day`` (UTC), as SQL text."""
        if self.kind == "date":
            return f"'{day.isoformat()}'"
        return f"'{day.isoformat()} 00:00:00+00'"


TABLES: dict[str, Table] = {}


def partitioned_by_day(table: str, column: str, kind: str = "date") -> Table:
    """Declare a table partitioned by day on ``column`` (a ``date`` or a ``timestamptz``)."""
    if kind not in ("date", "timestamptz"):
        raise ValueError(f"kind must be date or timestamptz, not {kind!r}")
    return TABLES.setdefault(table, Table(table, column, kind))


def rollup_check(table: str, name: str) -> Callable[[Covers], Covers]:
    """Register ``covers(day) -> bool``: whether the rollup ``name`` holds ``day`` of
    ``table`` for good (no event of that day can still change it)."""

    def register(func: Covers) -> Covers:
        checks = TABLES[table].checks
        checks[:] = [c for c in checks if c.name != name] + [Check(name, func)]
        return func

    return register


@dataclass
class Partition:
    table: str
    name: str
    start: date | None  # None: the default partition
    end: date | None  # exclusive
    rows: int  # the planner's estimate (exact counts would scan every partition)

    @property
    def days(self) -> list[date]:
        if self.start is None or self.end is None:
            return []
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days)]


def _day_of(text: str) -> date:
    """A bound as ``pg_get_expr`` prints it: ``2026-12-03`` or ``2026-12-03 00:00:00+00``."""
    text = text.strip()
    if len(text) == 10:
        return date.fromisoformat(text)
    if re.search(r"[+-]\d\d$", text):
        text += ":00"
    return datetime.fromisoformat(text).astimezone(UTC).date()


async def _client(conn: Any) -> Any:
    if conn is not None:
        return conn
    from tortoise import connections

    return connections.get("default")


async def is_partitioned(table: str, conn: Any = None) -> bool:
    client = await _client(conn)
    rows = await client.execute_query_dict(
        "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
        " WHERE c.relname = $1 AND pg_table_is_visible(c.oid)",
        [table],
    )
    return bool(rows)


async def partitions(table: str, conn: Any = None) -> list[Partition]:
    """The partitions of ``table``, oldest first, the default one last."""
    client = await _client(conn)
    rows = await client.execute_query_dict(
        "SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound,"
        " GREATEST(c.reltuples, 0)::bigint AS rows FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent"
        " WHERE p.relname = $1 AND pg_table_is_visible(p.oid)",
        [table],
    )
    found = []
    for row in rows:
        match = BOUNDS.search(row["bound"] or "")
        start, end = (_day_of(match[1]), _day_of(match[2])) if match else (None, None)
        found.append(Partition(table, row["name"], start, end, int(row["rows"])))
    return sorted(found, key=lambda p: (p.start is None, p.start or date.min))


def _window(today: date) -> tuple[date, date]:
    settings = get_settings()
    return today - timedelta(days=settings.partitions_behind), today + timedelta(
        days=settings.partitions_ahead
    )


async def ensure(
    spec: Table, today: date | None = None, *, dry_run: bool = False, conn: Any = None
) -> list[str]:
    """Create the missing daily partitions from ``NCM_PARTITIONS_BEHIND`` days ago to
    ``NCM_PARTITIONS_AHEAD`` days ahead, moving rows of their day out of the default
    partition. Returns the names created (or that would be)."""
    from tortoise.transactions import in_transaction

    today = today or datetime.now(UTC).date()
    first, last = _window(today)
    have = await partitions(spec.name, conn)
    covered = {d for p in have for d in p.days}
    default = next((p.name for p in have if p.start is None), None)
    made = []
    day = first
    while day <= last:
        if day not in covered:
            name = f"{spec.name}_p{day:%Y%m%d}"
            made.append(name)
            if not dry_run:
                await _create(spec, name, day, default, conn, in_transaction)
        day += timedelta(days=1)
    return made


async def _create(
    spec: Table, name: str, day: date, default: str | None, conn: Any, in_transaction: Any
) -> None:
    lo, hi = spec.bound(day), spec.bound(day + timedelta(days=1))
    statements = [f"CREATE TABLE {name} (LIKE {spec.name} INCLUDING DEFAULTS)"]
    if default is not None:
        where = f"{spec.column} >= {lo} AND {spec.column} < {hi}"
        statements += [
            f"INSERT INTO {name} SELECT * FROM {default} WHERE {where}",
            f"DELETE FROM {default} WHERE {where}",
        ]
    statements.append(
        f"ALTER TABLE {spec.name} ATTACH PARTITION {name} FOR VALUES FROM ({lo}) TO ({hi})"
    )
    if conn is not None:
        for statement in statements:
            await conn.execute_script(statement)
        return
    async with in_transaction() as tx:
        for statement in statements:
            await tx.execute_script(statement)


@dataclass
class Expired:
    partition: Partition
    blocked_by: list[str]  # the checks that do not cover all of its days yet
    dropped: bool = False


async def _blockers(spec: Table, days: list[date]) -> list[str]:
    blocked = []
    for check in spec.checks:
        for day in days:
            if not await check.covers(day):
                blocked.append(f"{check.name} ({day.isoformat()})")
                break
    return blocked


async def drop_expired(
    spec: Table, today: date | None = None, *, dry_run: bool = False
) -> list[Expired]:
    """Drop the partitions whose every day is older than ``NCM_EVENT_RETENTION_DAYS`` and
    covered by every registered rollup check; rows of such days in the default partition are
    deleted. A partition a check does not cover yet is listed with its blockers and kept."""
    from tortoise import connections

    today = today or datetime.now(UTC).date()
    cutoff = today - timedelta(days=get_settings().event_retention_days)
    client = connections.get("default")
    result = []
    for part in await partitions(spec.name):
        if part.start is None:
            rows = await client.execute_query_dict(
                f"SELECT DISTINCT ({spec.column} AT TIME ZONE 'UTC')::date AS day"
                f" FROM {part.name} WHERE {spec.column} < {spec.bound(cutoff)} ORDER BY 1"
                if spec.kind == "timestamptz"
                else f"SELECT DISTINCT {spec.column} AS day FROM {part.name}"
                f" WHERE {spec.column} < {spec.bound(cutoff)} ORDER BY 1"
            )
            for row in rows:
                day = row["day"]
                entry = Expired(
                    Partition(spec.name, part.name, day, day + timedelta(days=1), 0), []
                )
                entry.blocked_by = await _blockers(spec, [day])
                if not entry.blocked_by and not dry_run:
                    await client.execute_query(
                        f"DELETE FROM {part.name} WHERE {spec.column} >= {spec.bound(day)}"
                        f" AND {spec.column} < {spec.bound(day + timedelta(days=1))}"
                    )
                    entry.dropped = True
                result.append(entry)
            continue
        if part.end is None or part.end > cutoff:
            continue
        entry = Expired(part, await _blockers(spec, part.days))
        if not entry.blocked_by and not dry_run:
            # DETACH first: the parent is locked only for the detach, not for the file unlink.
            await client.execute_script(f"ALTER TABLE {spec.name} DETACH PARTITION {part.name}")
            await client.execute_script(f"DROP TABLE {part.name}")
            entry.dropped = True
            log.info("dropped partition", extra={"partition": part.name})
        result.append(entry)
    return result


async def convert(client: Any, spec: Table, today: date | None = None) -> None:
    """Turn the plain table ``spec.name`` into one partitioned by day, keeping its rows: the
    old table becomes the ``<table>_legacy`` partition over its rows' days (attached, not
    copied; dropped if empty). Unique keys gain the day column (PostgreSQL requires the
    partition key in every unique constraint of a partitioned table); plain indexes keep
    their definitions and names. For the migrations."""
    table, key = spec.name, spec.column
    legacy = f"{table}_legacy"
    if await is_partitioned(table, client):
        return
    indexes = await client.execute_query_dict(
        "SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS definition,"
        " i.indisprimary AS is_primary, i.indisunique AS is_unique,"
        " ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(n, o)"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o)"
        " AS columns FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid"
        " JOIN pg_class t ON t.oid = i.indrelid WHERE t.relname = $1 AND pg_table_is_visible(t.oid)",
        [table],
    )
    sequences = await client.execute_query_dict(
        "SELECT s.relname AS name, a.attname AS column FROM pg_class s"
        " JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i')"
        " JOIN pg_class t ON t.oid = d.refobjid"
        " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid"
        " WHERE s.relkind = 'S' AND t.relname = $1 AND pg_table_is_visible(t.oid)",
        [table],
    )
    script = [f"ALTER TABLE {table} RENAME TO {legacy}"]
    for index in indexes:
        script.append(f"ALTER INDEX {index['name']} RENAME TO {index['name'][:55]}_legacy")
    script.append(
        f"CREATE TABLE {table} (LIKE {legacy} INCLUDING DEFAULTS) PARTITION BY RANGE ({key})"
    )
    for index in indexes:
        columns = list(index["columns"])
        with_key = ", ".join(columns + ([key] if key not in columns else []))
        if index["is_primary"]:  # one primary key per table: the legacy one gives way
            script.append(f"ALTER TABLE {legacy} DROP CONSTRAINT {index['name'][:55]}_legacy")
            script.append(
                f"ALTER TABLE {table} ADD CONSTRAINT {index['name']} PRIMARY KEY ({with_key})"
            )
        elif index["is_unique"]:
            script.append(f"ALTER TABLE {table} ADD CONSTRAINT {index['name']} UNIQUE ({with_key})")
        else:  # read before the renames: it names the new table and the old index name
            script.append(index["definition"])
    for sequence in sequences:
        script.append(f"ALTER SEQUENCE {sequence['name']} OWNED BY {table}.{sequence['column']}")
        script.append(f"ALTER TABLE {legacy} ALTER COLUMN {sequence['column']} DROP DEFAULT")
    script.append(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
    for statement in script:
        await client.execute_script(statement)
    day_sql = f"({key} AT TIME ZONE 'UTC')::date" if spec.kind == "timestamptz" else key
    span = await client.execute_query_dict(
        f"SELECT min({day_sql}) AS lo, max({day_sql}) AS hi FROM {legacy}"
    )
    today = today or datetime.now(UTC).date()
    if span[0]["lo"] is None:
        await client.execute_script(f"DROP TABLE {legacy}")
    else:
        lo: date = span[0]["lo"]
        hi = max(span[0]["hi"] + timedelta(days=1), today)
        await client.execute_script(
            f"ALTER TABLE {table} ATTACH PARTITION {legacy}"
            f" FOR VALUES FROM ({spec.bound(lo)}) TO ({spec.bound(hi)})"
        )
    await ensure(spec, today, conn=client)


@dataclass
class Maintenance:
    created: list[str] = field(default_factory=list)
    expired: list[Expired] = field(default_factory=list)


async def maintain(
    *, create: bool = True, drop: bool = True, dry_run: bool = False, today: date | None = None
) -> Maintenance:
    """Create the partitions ahead and drop the expired, covered ones, for every declared
    table that is partitioned (PostgreSQL after migration 0019; nothing on SQLite)."""
    from ncm.domains import load_retention
    from ncm.kit.db import is_postgres

    done = Maintenance()
    if not is_postgres():
        return done
    load_retention()
    for spec in TABLES.values():
        if not await is_partitioned(spec.name):
            continue
        if create:
            done.created += await ensure(spec, today, dry_run=dry_run)
        if drop:
            done.expired += await drop_expired(spec, today, dry_run=dry_run)
    return done


@cron_job(minute={17})  # hourly: a missed run is made up within the hour
async def maintain_partitions(ctx: dict[str, Any]) -> dict[str, int]:
    """Partitions created ahead, expired ones dropped once their rollups cover them."""
    done = await maintain()
    return {"created": len(done.created), "dropped": sum(e.dropped for e in done.expired)}
