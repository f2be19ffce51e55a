"""Set-based statements on many rows at once, for both dialects: :class:`Bulk`.

One statement per table whatever the number of rows: on PostgreSQL one array parameter per
column (``= ANY($1::text[])``, ``INSERT ... SELECT * FROM unnest($1::bigint[], ...)``,
``UPDATE ... FROM unnest(...)``); on SQLite ``?`` lists, batched under its variable limit.
Rows are plain dicts keyed by column; rows read back are hydrated to Python values (SQLite
returns dates and times as text and booleans as integers), so both dialects give the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from enum import Enum
from functools import cache
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields import BooleanField, DateField, DatetimeField, Field
from tortoise.fields.data import CharEnumFieldInstance, IntEnumFieldInstance
from tortoise.models import Model

Row = dict[str, Any]
SQLITE_MAX_VARIABLES = 30_000  # SQLite's limit is 32,766
SQLITE_IN_BATCH = 900
_CONVERTED = (DateField, DatetimeField, BooleanField)  # come back from SQLite as text or int


def batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def names(columns: Sequence[str] | Mapping[str, Any]) -> str:
    """Quoted column names, comma-separated (they come from the models, never from input)."""
    return ", ".join(f'"{c}"' for c in columns)


@cache
def insert_fields(model: type[Model]) -> dict[str, Field[Any]]:
    """The model's columns (name -> field), without a generated primary key."""
    meta = model._meta
    return {
        name: meta.fields_map[name]
        for name in meta.db_fields
        if not (meta.fields_map[name].pk and meta.fields_map[name].generated)
    }


@cache
def pg_type(model: type[Model], column: str) -> str:
    """The column's PostgreSQL type for an array cast; VARCHAR without its length, so a
    too-long value fails instead of being cut."""
    field = model._meta.fields_map[column]
    return re.sub(r"\(.*\)", "", str(field.get_for_dialect("postgres", "SQL_TYPE")))


def db_value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def column_values(model: type[Model], column: str, rows: Sequence[Row], now: datetime) -> list[Any]:
    """One column's values for an insert; a row without the column gets the model's default."""
    field = insert_fields(model)[column]
    default: Any = None
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        default = now
    elif callable(field.default):
        return [row[column] if column in row else field.default() for row in rows]
    elif field.default is not None:
        default = field.default
    elif not field.null and any(column not in row for row in rows):
        raise ValueError(f"no value for {model._meta.db_table}.{column}")
    values = [row.get(column, default) for row in rows]
    if isinstance(field, CharEnumFieldInstance | IntEnumFieldInstance):
        return [db_value(v) for v in values]
    return values


def hydrate(model: type[Model], rows: list[Row]) -> list[Row]:
    """Rows read with raw SQL, with the values SQLite keeps as text or integers (dates,
    times, booleans) turned into what PostgreSQL gives. In place; returns ``rows``."""
    if not rows:
        return rows
    fields = model._meta.fields_map
    convert = [c for c in rows[0] if isinstance(fields.get(c), _CONVERTED)]
    for row in rows:
        for column in convert:
            if row[column] is not None:
                row[column] = fields[column].to_python_value(row[column])
    return rows


def _on_conflict(conflict: Sequence[str], update: Sequence[str]) -> str:
    if not conflict:
        return ""
    if not update:
        return f" ON CONFLICT ({names(conflict)}) DO NOTHING"
    sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in update)
    return f" ON CONFLICT ({names(conflict)}) DO UPDATE SET {sets}"


class Bulk:
    """Set-based ``select``/``insert``/``update``/``delete`` of one model's table on one
    connection (the transaction's, usually), for PostgreSQL and SQLite."""

    def __init__(self, conn: BaseDBAsyncClient | None = None) -> None:
        self.conn = conn or connections.get("default")
        self.pg = self.conn.capabilities.dialect == "postgres"
        self.custom_plans = False

    async def _plan(self, custom: bool) -> None:
        """Lookups are planned for their actual arrays and the tables' current size; writes
        keep PostgreSQL's plan cache.

        asyncpg prepares statements, and PostgreSQL would settle on one generic plan for a
        lookup, picked while the tables were small (a sequential scan): during a large load
        the tables grow under that plan and every batch gets slower. The setting is switched
        back for writes because it also applies to the plans of the foreign-key checks that
        every inserted row runs. ``SET LOCAL``: it ends with the transaction.
        """
        if self.pg and custom != self.custom_plans:
            mode = "force_custom_plan" if custom else "auto"
            await self.conn.execute_script(f"SET LOCAL plan_cache_mode = {mode}")
            self.custom_plans = custom

    async def select(
        self,
        model: type[Model],
        columns: Sequence[str],
        where: Mapping[str, Sequence[Any]],
        *,
        join: str = "AND",
    ) -> list[Row]:
        """Rows whose ``column`` is one of the values, for each condition of ``where``
        (``join``: AND or OR); no condition with values: no rows."""
        where = {k: list(dict.fromkeys(v)) for k, v in where.items() if v}
        if not where:
            return []
        table = model._meta.db_table
        head = f'SELECT {names(columns)} FROM "{table}" WHERE '
        if self.pg:
            await self._plan(custom=True)
            conditions = [
                f'"{column}" = ANY(${n}::{pg_type(model, column)}[])'
                for n, column in enumerate(where, start=1)
            ]
            sql = head + f" {join} ".join(conditions)
            return await self.conn.execute_query_dict(sql, list(where.values()))
        rows: list[Row] = []
        if len(where) == 1:  # one long list: in batches
            ((column, values),) = where.items()
            for batch in batches(values, SQLITE_IN_BATCH):
                sql = head + f'"{column}" IN ({", ".join("?" * len(batch))})'
                rows.extend(await self.conn.execute_query_dict(sql, list(batch)))
        else:
            conditions = [f'"{c}" IN ({", ".join("?" * len(v))})' for c, v in where.items()]
            params = [value for values in where.values() for value in values]
            rows = await self.conn.execute_query_dict(head + f" {join} ".join(conditions), params)
        return hydrate(model, rows)

    async def insert(
        self,
        model: type[Model],
        rows: Sequence[Row],
        returning: Sequence[str] = (),
        *,
        conflict: Sequence[str] = (),
        update: Sequence[str] = (),
    ) -> list[Row]:
        """Inserts the rows; columns they leave out get the model's defaults.

        ``conflict``: the unique columns of ``ON CONFLICT (...)``; a row that collides is
        skipped (``DO NOTHING``), or, with ``update``, has those columns overwritten by the
        new values (an upsert). ``returning``: columns of the rows written (skipped ones are
        not returned), in no promised order.
        """
        if not rows:
            return []
        now = datetime.now(UTC)
        columns = list(insert_fields(model))
        data = [column_values(model, c, rows, now) for c in columns]
        table = model._meta.db_table
        cols = names(columns)
        tail = _on_conflict(conflict, update)
        tail += f" RETURNING {names(returning)}" if returning else ""
        if self.pg:
            await self._plan(custom=False)
            arrays = ", ".join(f"${n}::{pg_type(model, c)}[]" for n, c in enumerate(columns, 1))
            sql = f'INSERT INTO "{table}" ({cols}) SELECT * FROM unnest({arrays}){tail}'
            if returning:
                return await self.conn.execute_query_dict(sql, data)
            await self.conn.execute_query(sql, data)
            return []
        out: list[Row] = []
        one = f"({', '.join('?' * len(columns))})"
        matrix = list(zip(*data, strict=True))
        for batch in batches(matrix, max(1, SQLITE_MAX_VARIABLES // len(columns))):
            sql = f'INSERT INTO "{table}" ({cols}) VALUES {", ".join([one] * len(batch))}{tail}'
            params = [value for row in batch for value in row]
            if returning:
                out.extend(await self.conn.execute_query_dict(sql, params))
            else:
                await self.conn.execute_query(sql, params)
        return out

    async def update(self, model: type[Model], rows: Sequence[Row], columns: Sequence[str]) -> None:
        """Sets ``columns`` of each row, found by its ``id``."""
        if not rows:
            return
        table = model._meta.db_table
        if self.pg:
            await self._plan(custom=False)
            keys = ["id", *columns]
            arrays = ", ".join(
                f"${n}::{'BIGINT' if c == 'id' else pg_type(model, c)}[]"
                for n, c in enumerate(keys, start=1)
            )
            sets = ", ".join(f'"{c}" = u."{c}"' for c in columns)
            sql = (
                f'UPDATE "{table}" AS t SET {sets} FROM unnest({arrays}) '
                f"AS u({names(keys)}) WHERE t.id = u.id"
            )
            params = [[db_value(row[c]) for row in rows] for c in keys]
            await self.conn.execute_query(sql, params)
            return
        sets = ", ".join(f'"{c}" = ?' for c in columns)
        await self.conn.execute_many(
            f'UPDATE "{table}" SET {sets} WHERE id = ?',
            [[*(db_value(row[c]) for c in columns), row["id"]] for row in rows],
        )

    async def delete(self, model: type[Model], column: str, values: Sequence[Any]) -> None:
        """Deletes the rows whose ``column`` is one of ``values``."""
        if not values:
            return
        table = model._meta.db_table
        if self.pg:
            await self._plan(custom=False)
            sql = f'DELETE FROM "{table}" WHERE "{column}" = ANY($1::{pg_type(model, column)}[])'
            await self.conn.execute_query(sql, [list(values)])
            return
        for batch in batches(values, SQLITE_IN_BATCH):
            sql = f'DELETE FROM "{table}" WHERE "{column}" IN ({", ".join("?" * len(batch))})'
            await self.conn.execute_query(sql, list(batch))
