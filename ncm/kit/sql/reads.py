"""Raw SQL text for both dialects and rows turned into models without the query builder.

One text serves both dialects: write ``$1, $2, ...`` (each used once, in order) and
:func:`sql` rewrites them to ``?`` for SQLite; :func:`any_of` is the one list condition
(``= ANY($n)`` with an array on PostgreSQL, ``IN (?, ...)`` on SQLite).

Tortoise's query builder costs a few milliseconds of Python per query to build a statement
and hydrate its rows; the per-request DataLoaders and the comment pages run here instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from tortoise import connections, fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from ncm.kit import replica
from ncm.kit.db import is_postgres

_PLACEHOLDER = re.compile(r"\$\d+")
M = TypeVar("M", bound=Model)
_COLUMNS: dict[tuple[type[Model], str], str] = {}


def sql(text: str) -> str:
    """``text`` with ``$1, $2, ...`` (each used once, in order) as the dialect wants them."""
    return text if is_postgres() else _PLACEHOLDER.sub("?", text)


async def fetch(
    text: str, params: Sequence[Any] = (), conn: BaseDBAsyncClient | None = None
) -> list[dict[str, Any]]:
    """The rows of a query, as dicts. Without ``conn``, inside ``replica.route_reads`` the
    read goes to the replica (and again to the primary if the replica could not answer)."""
    client = conn or replica.read_client()
    try:
        rows: list[dict[str, Any]] = await client.execute_query_dict(sql(text), list(params))
    except Exception as exc:
        if conn is not None or client is connections.get("default") or not replica.failed(exc):
            raise
        rows = await connections.get("default").execute_query_dict(sql(text), list(params))
    return rows


async def execute(
    text: str, params: Sequence[Any] = (), conn: BaseDBAsyncClient | None = None
) -> int:
    """Runs a statement; returns the number of rows it changed."""
    client = conn or connections.get("default")
    count, _ = await client.execute_query(sql(text), list(params))
    return int(count)


def columns(model: type[Model], alias: str = "") -> str:
    """The model's columns as a select list (``alias.col, ...``): exactly what
    ``Model._init_from_db`` reads, so generated extras such as ``search_vector`` stay behind."""
    key = (model, alias)
    found = _COLUMNS.get(key)
    if found is None:
        meta = model._meta
        names = [
            name
            for group in (meta.db_native_fields, meta.db_default_fields, meta.db_complex_fields)
            for name, _, _ in group
        ]
        prefix = f"{alias}." if alias else ""
        found = _COLUMNS[key] = ", ".join(f"{prefix}{name}" for name in names)
    return found


def any_of(column: str, values: Sequence[Any], first: int) -> tuple[str, list[Any]]:
    """``column`` is one of ``values``, as SQL whose placeholders start at ``$first``:
    ``= ANY($n)`` with one array parameter on PostgreSQL, ``IN (...)`` on SQLite."""
    if is_postgres():
        return f"{column} = ANY(${first})", [list(values)]
    marks = ", ".join(f"${first + i}" for i in range(len(values))) or "NULL"
    return f"{column} IN ({marks})", list(values)


def as_models(model: type[M], rows: Sequence[dict[str, Any]]) -> list[M]:
    """Rows holding (at least) the model's columns as models; extra keys are ignored."""
    init = model._init_from_db
    return [init(**row) for row in rows]


async def rows_by(
    model: type[M],
    column: str,
    values: Sequence[Any],
    extra: str = "",
    conn: BaseDBAsyncClient | None = None,
) -> list[M]:
    """``SELECT <columns> FROM <model's table> WHERE column IN values [extra]`` as models
    (on ``conn``, a transaction, when given)."""
    if not values:
        return []
    where, params = any_of(column, values, 1)
    table = model._meta.db_table
    rows = await fetch(f"SELECT {columns(model)} FROM {table} WHERE {where}{extra}", params, conn)
    return as_models(model, rows)


async def by_id(model: type[M], ids: Sequence[int]) -> dict[int, M]:
    """``{id: model}`` for the ids that exist: the shape the DataLoaders' batch functions give."""
    return {row.pk: row for row in await rows_by(model, "id", ids)}


async def first_of_each(
    model: type[M],
    parent: str,
    parent_ids: Sequence[int],
    order: str,
    limit: int,
    where: str = "",
) -> dict[int, list[M]]:
    """The first ``limit`` rows (by ``order``) of each parent, in one query: the previews a
    list shows under each of its items (a floor's first replies, a playlist's first entries).

    PostgreSQL seeks each parent's index with a LATERAL join; SQLite numbers the rows with a
    window. ``where`` is extra SQL for the rows (no parameters).
    """
    ids = list(dict.fromkeys(parent_ids))
    out: dict[int, list[M]] = {pid: [] for pid in ids}
    if not ids:
        return out
    table, extra = model._meta.db_table, f" AND {where}" if where else ""
    if is_postgres():
        text = (
            f"SELECT x.* FROM unnest($1::bigint[]) AS p(id) CROSS JOIN LATERAL (SELECT"
            f" {columns(model)} FROM {table} WHERE {parent} = p.id{extra}"
            f" ORDER BY {order} LIMIT $2) x"
        )
        params: list[Any] = [ids, limit]
    else:
        marks = ", ".join("?" for _ in ids)
        text = (
            f"SELECT * FROM (SELECT {columns(model)}, row_number() OVER (PARTITION BY {parent}"
            f" ORDER BY {order}) AS rn_ FROM {table} WHERE {parent} IN ({marks}){extra})"
            f" WHERE rn_ <= ? ORDER BY {parent}, rn_"
        )
        params = [*ids, limit]
    for row in as_models(model, await fetch(text, params)):
        out[getattr(row, parent)].append(row)
    return out


async def related_by(
    model: type[M], link_table: str, link_column: str, key: str, values: Sequence[Any], order: str
) -> list[tuple[Any, M]]:
    """``(key, model)`` pairs through a link table, e.g. each track's artists:
    ``SELECT l.key, m.* FROM link l JOIN model m ON m.id = l.link_column WHERE l.key IN ...``."""
    if not values:
        return []
    where, params = any_of(f"l.{key}", values, 1)
    table = model._meta.db_table
    rows = await fetch(
        f"SELECT l.{key} AS link_key_, {columns(model, 'm')} FROM {link_table} l "
        f"JOIN {table} m ON m.id = l.{link_column} WHERE {where} ORDER BY {order}",
        params,
    )
    init = model._init_from_db
    return [(row["link_key_"], init(**row)) for row in rows]


_DATETIME = fields.DatetimeField()


def as_datetime(value: Any) -> datetime:
    """A timestamp as a raw query returns it (asyncpg gives a datetime, SQLite gives text)."""
    converted = _DATETIME.to_python_value(value)
    assert converted is not None, "a NOT NULL timestamp came back NULL"
    return converted
