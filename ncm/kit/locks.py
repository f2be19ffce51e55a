"""Transaction-scoped locks on a name and a key, for rules a row lock cannot express."""

from __future__ import annotations

from collections.abc import Iterable
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


async def lock_many_for_transaction(conn: Any, scope: str, keys: Iterable[int]) -> None:
    """:func:`lock_for_transaction` on several keys in one statement, taken in key order:
    transactions that lock overlapping sets this way wait for each other, never deadlock."""
    ordered = sorted(set(keys))
    if ordered and is_postgres():
        await conn.execute_query(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, k))"
            " FROM unnest($2::bigint[]) WITH ORDINALITY AS u(k, n) ORDER BY n",
            [scope, ordered],
        )
