"""The raw SQL the comments domain writes (keyset pages, counters): one text for both
dialects, with ``$n`` placeholders rewritten for SQLite, and rows turned into models."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from ncm.comments.models import Comment
from ncm.db import is_postgres

_PLACEHOLDER = re.compile(r"\$\d+")
M = TypeVar("M", bound=Model)
_created_at = Comment._meta.fields_map["created_at"]


def sql(text: str) -> str:
    """``text`` with ``$1, $2, ...`` (each used once, in order) as the dialect wants them."""
    return text if is_postgres() else _PLACEHOLDER.sub("?", text)


async def fetch(
    text: str, params: Sequence[Any], conn: BaseDBAsyncClient | None = None
) -> list[dict[str, Any]]:
    client = conn or connections.get("default")
    rows: list[dict[str, Any]] = await client.execute_query_dict(sql(text), list(params))
    return rows


async def fetch_comments(
    text: str, params: Sequence[Any], conn: BaseDBAsyncClient | None = None
) -> list[Comment]:
    """Rows of ``SELECT * FROM comments ...`` as models (extra columns are ignored)."""
    return [Comment._init_from_db(**row) for row in await fetch(text, params, conn)]


def as_datetime(value: Any) -> datetime:
    """A timestamp as a raw query returns it (SQLite gives text)."""
    converted: datetime = _created_at.to_python_value(value)
    return converted


def any_of(column: str, values: Sequence[Any], first: int) -> tuple[str, list[Any]]:
    """``column`` is one of ``values``, as SQL whose placeholders start at ``$first``:
    ``= ANY($n)`` with one array parameter on PostgreSQL, ``IN (...)`` on SQLite. (Tortoise's
    ``__in`` filters cost a few milliseconds of Python per page to build.)"""
    if is_postgres():
        return f"{column} = ANY(${first})", [list(values)]
    marks = ", ".join(f"${first + i}" for i in range(len(values))) or "NULL"
    return f"{column} IN ({marks})", list(values)


async def rows_by(model: type[M], column: str, values: Sequence[Any], extra: str = "") -> list[M]:
    """``SELECT * FROM <model's table> WHERE column IN values [AND extra]`` as models."""
    where, params = any_of(column, values, 1)
    table = model._meta.db_table
    rows = await fetch(f"SELECT * FROM {table} WHERE {where}{extra}", params)
    return [model._init_from_db(**row) for row in rows]
