"""Comment rows from raw SQL (the helpers themselves are in ``ncm.kit.sql``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from ncm.comments.models import Comment
from ncm.kit.sql import fetch_models


async def fetch_comments(
    text: str, params: Sequence[Any], conn: BaseDBAsyncClient | None = None
) -> list[Comment]:
    """Rows of ``SELECT * FROM comments ...`` as models (extra columns are ignored)."""
    return await fetch_models(Comment, text, params, conn)
