"""The PostgreSQL pool: Tortoise's asyncpg engine with two changes to how a connection goes
back to the pool, each worth a share of every statement a request runs.

* ``PooledConnection``: no reset statement. asyncpg sends ``SELECT pg_advisory_unlock_all();
  CLOSE ALL; UNLISTEN *; RESET ALL`` on every release: one more round trip for every query a
  request runs through the pool. ncm never leaves session state on a pooled connection:
  session settings go through ``ncm.kit.db.session_settings``, which restores them or
  discards the connection; transactions are still rolled back by asyncpg on release.
* ``LeanPool``: no ``asyncio.shield`` when the release cannot wait. asyncpg shields every
  release so that a cancelled task still returns its connection; the shield is a new task
  and two more turns of the event loop (~20 µs of CPU per statement under load,
  ``tests/kit/test_pgpool.py`` and docs/graphql.md). A release that has nothing to wait
  for -- no transaction to roll back, no reset statement, no cancellation in progress, no
  close due (``max_queries``, an expired generation) -- runs asyncpg's own release steps
  to the end without suspending, so no cancellation can land inside it; any other release,
  and every release with ``NCM_DB_LEAN_RELEASE=0``, takes asyncpg's shielded path.

The engine is named ``ncm.kit.pgpool`` in the Tortoise configuration (``ncm.kit.db``).
"""

from __future__ import annotations

from typing import Any

import asyncpg
from tortoise.backends.asyncpg import AsyncpgDBClient

from ncm.config import get_settings


class PooledConnection(asyncpg.Connection):
    """A pooled connection released without asyncpg's reset statement (see the module)."""

    def get_reset_query(self) -> str:
        return ""


class LeanPool(asyncpg.Pool):
    """asyncpg's pool, releasing without ``asyncio.shield`` when the release cannot wait."""

    __slots__ = ()  # the layout of asyncpg's Pool: ``lean`` gives a made pool this class

    async def release(
        self,
        connection: Any,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (asyncpg's signature)
    ) -> None:
        try:
            holder = connection._holder
            con = connection._con
            waits = (
                con is None
                or holder._pool is not self
                or type(con).get_reset_query is not PooledConnection.get_reset_query
                or self._reset is not None
                or con._top_xact is not None
                or con.is_in_transaction()
                or con._protocol._is_cancelling()
                or con._protocol.queries_count >= holder._max_queries
                or holder._generation != self._generation
            )
        except AttributeError:  # not a proxy of this pool, or asyncpg changed: its own path
            waits = True
        if waits:
            await super().release(connection, timeout=timeout)
            return
        # Pool.release's steps without the shield (asyncpg 0.32).
        self._check_init()
        con._on_release()
        await holder.release(holder._timeout if timeout is None else timeout)


def lean(pool: asyncpg.Pool) -> asyncpg.Pool:
    """``pool`` releasing through ``LeanPool.release`` (unless ``NCM_DB_LEAN_RELEASE=0``)."""
    if get_settings().db_lean_release and type(pool) is asyncpg.Pool:
        pool.__class__ = LeanPool
    return pool


class Client(AsyncpgDBClient):
    """Tortoise's asyncpg client on a ``LeanPool``."""

    async def create_pool(self, **kwargs: Any) -> asyncpg.Pool:
        return lean(await super().create_pool(**kwargs))


client_class = Client
