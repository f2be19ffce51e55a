"""Transaction-scoped locks on a name and a key, for rules a row lock cannot express."""

from __future__ import annotations

from typing import Any

from ncm.kit.db import is_postgres


async def lock_for_transaction(conn: Any, scope: str, key: int) -> None:
    """Serialize transactions on ``(scope, key)`` -- e.g. one user's sessions -- until the
    caller's transaction ends: a PostgreSQL advisory lock (no row is locked, so nothing else
    waits); SQLite already runs one writer at a time."""
    if is_postgres():
        await conn.execute_query(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, $2))", [scope, key]
        )
