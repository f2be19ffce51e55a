"""Comment rows from raw SQL (the helpers themselves are in ``ncm.sql``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from ncm.comments.models import Comment
from ncm.sql import as_models, fetch

_created_at = Comment._meta.fields_map["created_at"]


async def fetch_comments(
    text: str, params: Sequence[Any], conn: BaseDBAsyncClient | None = None
) -> list[Comment]:
    """Rows of ``SELECT * FROM comments ...`` as models (extra columns are ignored)."""
    return as_models(Comment, await fetch(text, params, conn))


def as_datetime(value: Any) -> datetime:
    """A timestamp as a raw query returns it (SQLite gives text)."""
    converted: datetime = _created_at.to_python_value(value)
    return converted
