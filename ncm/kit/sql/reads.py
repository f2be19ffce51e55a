"""Raw SQL text for both dialects and rows turned into models without the query builder.

One text serves both dialects: write ``$1, $2, ...`` (each used once, in order) and
:func:`sql` rewrites them to ``?`` for SQLite; :func:`any_of` is the one list condition
(``= ANY($n)`` with an array on PostgreSQL, ``IN (?, ...)`` on SQLite).

Tortoise's query builder costs a few milliseconds of Python per query to build a statement
and hydrate its rows; the per-request DataLoaders and the comment pages run here instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from enum import Enum
from functools import cache
from typing import Any, TypeVar

from tortoise import connections, fields, timezone
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from ncm.kit import replica
from ncm.kit.db import dialect, is_postgres

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
    rows: list[dict[str, Any]] = await _read(text, params, conn, records=False)
    return rows


async def fetch_rows(
    text: str, params: Sequence[Any] = (), conn: BaseDBAsyncClient | None = None
) -> Sequence[Mapping[str, Any]]:
    """The rows of a query as the driver gives them, read by column name: asyncpg's records
    on PostgreSQL (no dict made per row), dicts on SQLite. Routed as :func:`fetch`."""
    records = is_postgres() and not text.lstrip()[:6].upper().startswith(_WRITES)
    rows: Sequence[Mapping[str, Any]] = await _read(text, params, conn, records=records)
    return rows


# Tortoise's asyncpg client answers these without rows (``execute_query``): a write with
# RETURNING takes the dict path.
_WRITES = ("UPDATE", "DELETE", "INSERT")


async def fetch_models(
    model: type[M], text: str, params: Sequence[Any] = (), conn: BaseDBAsyncClient | None = None
) -> list[M]:
    """The rows of a query holding (at least) the model's columns, as models; routed as
    :func:`fetch`."""
    return as_models(model, await fetch_rows(text, params, conn))


async def _read(
    text: str, params: Sequence[Any], conn: BaseDBAsyncClient | None, *, records: bool
) -> list[Any]:
    client = conn or replica.read_client()
    try:
        return await _rows(client, sql(text), list(params), records)
    except Exception as exc:
        if conn is not None or client is connections.get("default") or not replica.failed(exc):
            raise
        return await _rows(connections.get("default"), sql(text), list(params), records)


async def _rows(client: BaseDBAsyncClient, text: str, params: list[Any], records: bool) -> Any:
    if records:
        return (await client.execute_query(text, params))[1]
    return await client.execute_query_dict(text, params)


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


def as_models(model: type[M], rows: Sequence[Mapping[str, Any]]) -> list[M]:
    """Rows (dicts or asyncpg records) holding (at least) the model's columns as models;
    extra keys are ignored."""
    hydrate = hydrator(model)
    return [hydrate(row) for row in rows]


# By model, dialect and prefix: which fields the driver already converts depends on the
# backend.
_HYDRATORS: dict[tuple[type[Model], str, str], Callable[[Mapping[str, Any]], Any]] = {}


def hydrator(model: type[M], prefix: str = "") -> Callable[[Mapping[str, Any]], M]:
    """A function making a model from a row (a dict or an asyncpg record) holding (at least)
    its columns: ``Model._init_from_db`` with the same result, about three times faster on a
    page of rows.

    Why: Tortoise converts each value by its field's type on every row, and each timestamp
    reads ``USE_TZ`` from the environment. Here a value already of its field's Python type
    (what asyncpg returns) is kept as it is; anything else goes through the same
    conversion as Tortoise's (SQLite's integers for booleans, its text for timestamps), and
    an aware timestamp is moved into Tortoise's time zone as Tortoise does, with the zone
    looked up once. A row missing a column takes ``_init_from_db`` (a partial model).
    With ``prefix``, the row names the model's columns ``<prefix><column>`` (a joined row)."""
    backend = dialect()
    found = _HYDRATORS.get((model, backend, prefix))
    if found is not None:
        return found
    meta = model._meta
    steps: list[tuple[str, str, Any, Callable[[Any], Any] | None]] = []
    for key, attribute, _ in meta.db_native_fields:
        steps.append((prefix + key, attribute, None, None))
    for key, attribute, field in meta.db_default_fields:
        steps.append((prefix + key, attribute, field.field_type, field.field_type))
    for key, attribute, field in meta.db_complex_fields:
        convert: Callable[[Any], Any] = field.to_python_value
        if isinstance(field, fields.DatetimeField):
            convert = _timestamp(convert)
        elif isinstance(enum := getattr(field, "enum_type", None), type) and issubclass(enum, Enum):
            convert = _member(enum, convert)
        steps.append((prefix + key, attribute, _NoType, convert))
    custom_pk = meta.db_pk_column not in meta.generated_db_fields
    hydrate: Callable[[Mapping[str, Any]], M] = _generated(model, steps, custom_pk, bool(prefix))
    _HYDRATORS[model, backend, prefix] = hydrate
    return hydrate


def _generated(
    model: type[M],
    steps: list[tuple[str, str, Any, Callable[[Any], Any] | None]],
    custom_pk: bool,
    prefixed: bool,
) -> Callable[[Mapping[str, Any]], M]:
    """The steps as one straight-line function (as dataclasses write ``__init__``): each value
    read by its column, converted only when its step says so, and the instance's attributes
    set as one dict. Column and attribute names are the model's own, written as literals."""
    space: dict[str, Any] = {"new": object.__new__, "model": model, "init": model._init_from_db}
    reads, values = [], []
    for i, (key, attribute, kind, convert) in enumerate(steps):
        reads.append(f"        v{i} = row[{key!r}]")
        if convert is not None:
            space[f"convert{i}"], space[f"kind{i}"] = convert, kind
            reads.append(
                f"        if v{i} is not None and type(v{i}) is not kind{i}: v{i} = convert{i}(v{i})"
            )
        values.append(f"{attribute!r}: v{i}")
    lines = [
        "def hydrate(row):",
        "    try:",
        *reads,
        "    except KeyError:",
        "        raise" if prefixed else "        return init(**row)",
        "    instance = new(model)",
        "    instance.__dict__.update({'_partial': False, '_saved_in_db': True,"
        f" '_custom_generated_pk': {custom_pk!r}, '_await_when_save': {{}}, {', '.join(values)}}})",
        "    return instance",
    ]
    exec("\n".join(lines), space)
    function: Callable[[Mapping[str, Any]], M] = space["hydrate"]
    return function


class _NoType:
    """Matches no value's type: complex fields always convert."""


def _member(enum: type[Enum], general: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """An enum field's ``to_python_value`` as one dictionary lookup by value (calling the
    enum class costs ten times more); a value it does not know through Tortoise's own."""
    members = enum._value2member_map_

    def convert(value: Any) -> Any:
        found = members.get(value) if type(value) is str else None
        return found if found is not None else general(value)

    return convert


def _timestamp(general: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``DatetimeField.to_python_value`` with the environment read once: an aware datetime
    (asyncpg's ``timestamptz``) moved into the default time zone when ``USE_TZ`` holds;
    anything else through Tortoise's own.

    When that zone is UTC, asyncpg's UTC timestamps are kept as they come (``datetime.UTC``,
    the zone ncm's own code writes) instead of being moved into Tortoise's ``ZoneInfo("UTC")``:
    the same instant and the same ``isoformat()``, without a conversion per value. Text (SQLite's
    columns, timestamps inside JSON) is read by ``datetime.fromisoformat``, ten times faster
    than Tortoise's ``iso8601``; what it cannot read goes to Tortoise's."""
    if not timezone.get_use_tz():
        return general
    zone = timezone.get_default_timezone()
    keep = UTC if getattr(zone, "key", None) in {"UTC", "Etc/UTC"} else None

    def convert(value: Any) -> Any:
        if type(value) is str:
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                return general(value)
        if type(value) is datetime and value.tzinfo is not None:
            return value if value.tzinfo is keep else value.astimezone(zone)
        return general(value)

    return convert


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
    text = f"SELECT {columns(model)} FROM {table} WHERE {where}{extra}"
    return await fetch_models(model, text, params, conn)


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
    for row in await fetch_models(model, text, params):
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
    rows = await fetch_rows(
        f"SELECT l.{key} AS link_key_, {columns(model, 'm')} FROM {link_table} l "
        f"JOIN {table} m ON m.id = l.{link_column} WHERE {where} ORDER BY {order}",
        params,
    )
    hydrate = hydrator(model)
    return [(row["link_key_"], hydrate(row)) for row in rows]


_DATETIME = fields.DatetimeField()


def as_datetime(value: Any) -> datetime:
    """A timestamp as a raw query returns it (asyncpg gives a datetime, SQLite gives text),
    converted as a ``DatetimeField`` converts it (the environment read once, as hydrating)."""
    converted = _as_datetime()(value)
    assert converted is not None, "a NOT NULL timestamp came back NULL"
    return converted


@cache
def _as_datetime() -> Callable[[Any], Any]:
    # Made on first use: Tortoise sets USE_TZ in the environment when it starts.
    return _timestamp(_DATETIME.to_python_value)
