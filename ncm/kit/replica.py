"""Reads that tolerate a little lag go to a streaming replica (``NCM_DATABASE_REPLICA_URL``).

A caller marks a block of reads as lag-tolerant with :func:`route_reads` after
:func:`may_read_replica` said yes; inside it, :func:`ncm.kit.sql.fetch` (the raw-SQL read
path: DataLoaders, comment pages, search, reports) reads from the replica's pool, while
writes, transactions, the query builder and everything outside such a block stay on the
primary. (The replica is not one of Tortoise's configured connections: a second one would
make every ``in_transaction()`` ask which; see ``pg_client``.) The
GraphQL face routes whole query operations whose root fields are all lag-tolerant
(``ncm.schema.routing``); the CLI, the worker and the query builder read from the primary.

The replica is used only while it answers and its lag (measured at most every
``NCM_REPLICA_CHECK_MS``) is under ``NCM_REPLICA_MAX_LAG_MS``; otherwise reads go to the
primary. A viewer who just wrote reads from the primary for ``NCM_REPLICA_STICKY_MS``
(:func:`wrote`): a mark in Redis, shared by every process, or in process memory without it.
``/readyz`` and ``/metrics`` show the lag (:func:`status`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.exceptions import IntegrityError, OperationalError

from ncm.config import get_settings
from ncm.kit.db import is_unavailable, pg_client
from ncm.kit.observability import REGISTRY
from ncm.kit.redis import get_redis, namespaced

log = logging.getLogger("ncm.replica")

CHECK_TIMEOUT = 0.5  # seconds a lag check may take before the replica counts as down

# Lag of a standby: zero when it has replayed all it received, else the time since the last
# transaction it replayed (an overestimate right after a long idle spell, which only sends
# reads to the primary for a moment). On a server that is not a standby: NULL.
LAG_SQL = """
SELECT CASE
  WHEN NOT pg_is_in_recovery() THEN NULL
  WHEN pg_last_wal_receive_lsn() IS NULL
    OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
  ELSE greatest(0, extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()))
END AS lag
"""

REPLICA_LAG = Gauge(
    "ncm_replica_lag_seconds",
    "Replication lag of the read replica, as last measured",
    registry=REGISTRY,
)
REPLICA_USABLE = Gauge(
    "ncm_replica_usable",
    "1 while lag-tolerant reads go to the replica, 0 on fallback",
    registry=REGISTRY,
)
ROUTED = Counter(
    "ncm_replica_routed_total",
    "Lag-tolerant operations by where their reads went (replica, or primary and why)",
    ["target"],
    registry=REGISTRY,
)

_route: contextvars.ContextVar[bool] = contextvars.ContextVar("ncm_replica_route", default=False)


@dataclass
class _State:
    checked_at: float = float("-inf")
    lag: float | None = None  # seconds
    error: str | None = None
    checking: asyncio.Future[None] | None = None


_state = _State()
_sticky_local: dict[int, float] = {}  # user id -> monotonic deadline (no Redis)
_client: BaseDBAsyncClient | None = None


def open(url: str | None) -> None:
    """Use the replica at ``url`` (PostgreSQL; None: no replica). Its pool opens on first use,
    so a replica that is down at startup only sends reads to the primary."""
    global _client
    reset()
    _client = pg_client(url, "replica") if url and url.startswith(("postgres", "asyncpg")) else None


async def close() -> None:
    global _client
    client, _client = _client, None
    if client is not None:
        await client.close()


def configured() -> bool:
    return _client is not None


def reset() -> None:
    """Forget the last measurement (tests, and a process that reopens its connections)."""
    global _state
    _state = _State()
    REPLICA_USABLE.set(0)
    _sticky_local.clear()


def _usable_now() -> bool:
    max_lag = get_settings().replica_max_lag_ms / 1000
    return _state.error is None and _state.lag is not None and _state.lag <= max_lag


async def _measure() -> None:
    try:
        assert _client is not None
        client = _client
        rows = await asyncio.wait_for(client.execute_query_dict(LAG_SQL), CHECK_TIMEOUT)
        lag = rows[0]["lag"]
        if lag is None:
            _state.lag, _state.error = None, "not a standby"
        else:
            _state.lag, _state.error = float(lag), None
    except Exception as exc:  # any failure means "do not read from it"; say which
        _state.lag, _state.error = None, f"{type(exc).__name__}: {exc}"[:200]
    _state.checked_at = time.monotonic()
    REPLICA_LAG.set(_state.lag if _state.lag is not None else float("nan"))
    REPLICA_USABLE.set(1 if _usable_now() else 0)


async def refresh(force: bool = False) -> None:
    """Measure the replica's lag unless the last measurement is recent; concurrent callers
    share one measurement."""
    if not configured():
        return
    interval = get_settings().replica_check_ms / 1000
    if not force and time.monotonic() - _state.checked_at < interval:
        return
    if _state.checking is None or _state.checking.done():
        _state.checking = asyncio.ensure_future(_measure())
    await asyncio.shield(_state.checking)


async def usable() -> bool:
    """Whether lag-tolerant reads may go to the replica now (configured, answering, lag
    under ``NCM_REPLICA_MAX_LAG_MS``)."""
    if not configured():
        return False
    await refresh()
    return _usable_now()


def _sticky_key(user_id: int) -> str:
    return namespaced("primary-reads", str(user_id))


async def wrote(user_id: int | None) -> None:
    """The viewer changed something: their reads stay on the primary for a while, so they
    see what they wrote (read-your-writes), in every process."""
    if user_id is None or not configured():
        return
    ttl_ms = get_settings().replica_sticky_ms
    now = time.monotonic()
    if len(_sticky_local) >= 10_000:  # the marks of a few seconds of writers: drop the old
        for expired in [k for k, v in _sticky_local.items() if v <= now]:
            del _sticky_local[expired]
    _sticky_local[user_id] = now + ttl_ms / 1000  # this process, at least
    try:
        redis = await get_redis()
        if redis is not None:
            await redis.set(_sticky_key(user_id), b"1", px=ttl_ms)
    except Exception as exc:  # Redis down: other processes may serve them stale reads
        log.warning("could not mark user %s's reads for the primary: %r", user_id, exc)


async def _sticky(user_id: int) -> bool:
    deadline = _sticky_local.get(user_id)
    if deadline is not None:
        if deadline > time.monotonic():
            return True
        del _sticky_local[user_id]
    try:
        redis = await get_redis()
        return redis is not None and bool(await redis.exists(_sticky_key(user_id)))
    except Exception:  # Redis down: the primary is always right
        return True


async def may_read_replica(user_id: int | None) -> bool:
    """Whether this viewer's lag-tolerant reads may go to the replica now: it is usable and
    the viewer has not written within ``NCM_REPLICA_STICKY_MS``. Counts the decision."""
    if not configured():
        return False
    if not await usable():
        ROUTED.labels("primary_fallback").inc()
        return False
    if user_id is not None and await _sticky(user_id):
        ROUTED.labels("primary_own_writes").inc()
        return False
    ROUTED.labels("replica").inc()
    return True


@contextlib.contextmanager
def route_reads(enabled: bool = True) -> Iterator[None]:
    """Inside the block, reads outside a transaction go to the replica (when ``enabled``)."""
    token = _route.set(enabled)
    try:
        yield
    finally:
        _route.reset(token)


def read_client() -> BaseDBAsyncClient:
    """The connection a read outside an explicit one should use: the replica inside
    :func:`route_reads`, unless a transaction is open on the primary (its reads must see its
    own writes); the primary otherwise."""
    primary = connections.get("default")
    if _route.get() and _client is not None and not isinstance(primary, TransactionalDBClient):
        return _client
    return primary


def failed(exc: BaseException) -> bool:
    """A read on the replica failed: say whether to run it again on the primary. A statement
    the primary would refuse too (bad SQL, bad data) is not retried; anything else (the
    replica down, restarting, refusing a write as read-only, a broken pooled connection)
    is, and a replica that could not answer counts as down until the next check."""
    cause = exc.__cause__ or exc
    if getattr(cause, "sqlstate", None) == "25006":  # read_only_sql_transaction
        return True
    if isinstance(exc, OperationalError | IntegrityError) and not is_unavailable(exc):
        return False
    _state.lag, _state.error = None, f"{type(exc).__name__}: {exc}"[:200]
    _state.checked_at = time.monotonic()
    REPLICA_USABLE.set(0)
    log.warning("replica unavailable, reads fall back to the primary: %r", exc)
    return True


async def status() -> dict[str, Any]:
    """The replica's state for ``/readyz`` (measured now)."""
    if not configured():
        return {"state": "not configured"}
    await refresh(force=True)
    lag_ms = None if _state.lag is None else round(_state.lag * 1000, 1)
    if _state.error is not None:
        state = f"down (reads on the primary): {_state.error}"
    elif _usable_now():
        state = "ok"
    else:
        state = "lagging (reads on the primary)"
    return {
        "state": state,
        "lag_ms": lag_ms,
        "max_lag_ms": get_settings().replica_max_lag_ms,
    }
