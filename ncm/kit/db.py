"""Tortoise configuration shared by the app, the worker, the CLI and the migrations."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient

from ncm.config import get_settings
from ncm.domains import model_modules
from ncm.kit.pgpool import Client, PooledConnection


def tortoise_config(database_url: str | None = None) -> dict[str, Any]:
    global _dialect
    _dialect = None  # Tortoise is being configured again: ask it (see ``dialect``)
    url = database_url or get_settings().database_url
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://")
        if path not in (":memory:", ""):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        credentials: dict[str, Any] = {"file_path": path, "journal_mode": "WAL"}
        connection: dict[str, Any] = {
            "engine": "tortoise.backends.sqlite",
            "credentials": credentials,
        }
    else:
        credentials = {**_pg_credentials(url), "connection_class": PooledConnection}
        connection = {"engine": "ncm.kit.pgpool", "credentials": credentials}
    return {
        "connections": {"default": connection},
        "apps": {
            "ncm": {
                "models": model_modules(),
                "default_connection": "default",
                "migrations": "migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


@contextlib.asynccontextmanager
async def session_settings(conn: Any, statements: str) -> AsyncIterator[Any]:
    """Run ``SET ...`` statements on a pooled asyncpg connection for the block; afterwards
    ``RESET ALL``, or, if even that fails, terminate the connection so the pool replaces it."""
    try:
        if statements:
            await conn.execute(statements)
        yield conn
    finally:
        try:
            await conn.execute("RESET ALL")
        except Exception:
            conn.terminate()


# The pool's session settings (see ``_pg_credentials``); ``bench/plain_app.py`` uses them too.
SESSION_SETTINGS = {"jit": "off", "max_parallel_workers_per_gather": "0"}


def behind_pgbouncer(url: str) -> bool:
    """PgBouncer in transaction mode is in front of this URL: ``NCM_DATABASE_PGBOUNCER=1``
    or ``?pgbouncer=1`` in the URL."""
    from urllib.parse import parse_qs, urlparse  # lazy, as in _pg_credentials

    flag = parse_qs(urlparse(url).query).get("pgbouncer", [""])[-1].lower()
    return get_settings().database_pgbouncer or flag in {"1", "true", "yes", "on"}


def _pg_credentials(url: str) -> dict[str, Any]:
    from urllib.parse import parse_qs, urlparse

    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql", "asyncpg"}:
        raise ValueError(f"unsupported database URL scheme {parsed.scheme!r}")
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    if behind_pgbouncer(url):
        # PgBouncer in transaction mode gives each transaction any server connection: a
        # statement prepared by name on one is unknown on the next, so asyncpg keeps no
        # statement cache (unnamed statements only). PgBouncer refuses startup parameters
        # it does not know, so the session settings below are the database's own
        # (``ALTER DATABASE ... SET jit = off``, or PgBouncer's ``connect_query``).
        return {
            **_pg_target(parsed, query),
            "statement_cache_size": 0,
        }
    return {
        **_pg_target(parsed, query),
        # JIT compiles a plan whose estimated cost is high, even for branches that a one-time
        # filter never runs (search's tiers): ~200 ms of compiling for a 5 ms query. An OLTP
        # pool gains nothing from it, nor from parallel workers, which are started even for a
        # branch that never runs (docs/search.md measures both). Reports that want parallel
        # scans set it for their own statements (``session_settings``).
        "server_settings": dict(SESSION_SETTINGS),
    }


def _pg_target(parsed: Any, query: dict[str, str]) -> dict[str, Any]:
    from urllib.parse import unquote  # lazy, as in _pg_credentials

    return {
        "host": parsed.hostname or "127.0.0.1",
        "port": parsed.port or 5432,
        "user": unquote(parsed.username or "postgres"),
        "password": unquote(parsed.password or ""),
        "database": (parsed.path or "/postgres").lstrip("/"),
        "minsize": int(query.get("minsize", 1)),
        "maxsize": int(query.get("maxsize", 10)),
    }


def __getattr__(name: str) -> Any:
    # ``tortoise -c ncm.kit.db.TORTOISE_ORM`` reads this lazily, so the environment wins.
    if name == "TORTOISE_ORM":
        return tortoise_config()
    raise AttributeError(name)


async def init_db(database_url: str | None = None) -> None:
    global _dialect
    config = tortoise_config(database_url)
    await Tortoise.init(config=config, _enable_global_fallback=True)
    engine = config["connections"]["default"]["engine"]
    _dialect = "sqlite" if engine.endswith(".sqlite") else "postgres"


def pg_client(url: str, name: str) -> BaseDBAsyncClient:
    """A Tortoise asyncpg client (its own pool, opened on first use) that is not one of
    Tortoise's configured connections: the read replica (``ncm.kit.replica``). One more
    configured connection would make every ``in_transaction()`` ask which one."""
    credentials = {**_pg_credentials(url), "connection_class": PooledConnection}
    return Client(connection_name=name, **credentials)


async def close_db() -> None:
    global _dialect
    _dialect = None
    await Tortoise.close_connections()


# The default connection's dialect as ``init_db`` opened it. Asking Tortoise costs an import,
# two context lookups and a loop check (several µs, and the raw-SQL layer asks a few times
# per statement). Any ``tortoise_config`` (the migration commands configure Tortoise their
# own way) and ``close_db`` forget it, and the dialect is then read from Tortoise again.
_dialect: str | None = None


def dialect() -> str:
    """``postgres`` or ``sqlite``: the few places that write raw SQL branch on it."""
    return _dialect or str(connections.get("default").capabilities.dialect)


def is_postgres() -> bool:
    return dialect() == "postgres"


def placeholder(n: int) -> str:
    """The n-th (1-based) bind placeholder of the current dialect."""
    return f"${n}" if is_postgres() else "?"


async def column(queryset: Any, field: str) -> list[Any]:
    """One column of a queryset as a plain list (``values_list(flat=True)``, typed)."""
    values: list[Any] = await queryset.values_list(field, flat=True)
    return values


_UNAVAILABLE = (
    TimeoutError,  # a query or a pool acquire that ran out of time
    OSError,  # refused or lost connections (Tortoise's DBConnectionError is one)
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # shutdown, cancelled, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
)


def is_unavailable(exc: BaseException) -> bool:
    """Whether the database could not answer (a timeout, a lost or refused connection, a
    server shutting down, SQLite busy), as opposed to a bad statement or bad data, which
    retrying elsewhere would not fix."""
    for error in (exc, exc.__cause__):
        if isinstance(error, _UNAVAILABLE):
            return True
        if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
            return True
    return False
