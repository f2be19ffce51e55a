"""Test setup: a fresh database (PostgreSQL by default, SQLite with NCM_TEST_BACKEND=sqlite),
real Redis on PostgreSQL runs, migrations applied once, every table emptied after each test.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

BACKEND = os.environ.get("NCM_TEST_BACKEND", "postgres")
REDIS_LOCK = "ncm:test:owner"


def _claim_redis_db() -> str:
    """A Redis database no other test run on this machine is using (tests flush theirs)."""
    import redis

    for db in range(15, 0, -1):
        client = redis.Redis(host="127.0.0.1", port=6379, db=db)
        try:
            if client.set(REDIS_LOCK, str(os.getpid()), nx=True, ex=3600):
                return f"redis://127.0.0.1:6379/{db}"
        finally:
            client.close()
    raise RuntimeError("every Redis database 1-15 is claimed by another test run")


PG_ADMIN_DSN = os.environ.get("NCM_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_DB = f"ncm_test_{os.getpid()}"
_tmp = tempfile.mkdtemp(prefix="ncm-test-")

os.environ["NCM_DATA_DIR"] = _tmp
os.environ["NCM_LOG_JSON"] = "0"
os.environ.setdefault("NCM_LOG_LEVEL", "WARNING")
# Cheap password hashes keep the suite fast; production refuses these values.
os.environ["NCM_ARGON2_TIME_COST"] = "1"
os.environ["NCM_ARGON2_MEMORY_KIB"] = "1024"
os.environ.pop("NCM_ENV", None)
if BACKEND == "postgres":
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    os.environ["NCM_DATABASE_URL"] = f"{base}/{TEST_DB}?maxsize=20"
    os.environ["NCM_REDIS_URL"] = os.environ.get("NCM_TEST_REDIS_URL") or _claim_redis_db()
else:
    os.environ["NCM_DATABASE_URL"] = f"sqlite://{_tmp}/test.sqlite3"
    os.environ.pop("NCM_REDIS_URL", None)

from ncm.config import reset_settings  # noqa: E402

reset_settings()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if BACKEND == "postgres":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL and Redis (runs in the PostgreSQL pass)")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


async def _create_pg_database() -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{TEST_DB}"')
    finally:
        await conn.close()


async def _drop_pg_database() -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session", autouse=True)
async def database() -> AsyncIterator[None]:
    """Migrations on an empty database (proving they apply), then the ORM for every test."""
    from ncm.kit.db import close_db, init_db
    from ncm.kit.migrate import upgrade

    if BACKEND == "postgres":
        await _create_pg_database()
    await upgrade()
    await init_db()
    yield
    from ncm.kit.redis import close_redis, get_redis

    redis = await get_redis()
    if redis is not None:
        await redis.flushdb()  # releases the claim on this database too
    await close_redis()
    await close_db()
    if BACKEND == "postgres":
        await _drop_pg_database()


async def _tables() -> list[str]:
    from tortoise import Tortoise

    return [m._meta.db_table for app in Tortoise.apps.values() for m in app.values()]


@pytest.fixture(autouse=True)
async def clean_state() -> AsyncIterator[None]:
    yield
    from tortoise import connections

    from ncm.accounts import revocation
    from ncm.kit import jobs, ratelimit
    from ncm.kit.db import is_postgres
    from ncm.kit.redis import get_redis

    await jobs.drain()
    conn = connections.get("default")
    tables = await _tables()
    if is_postgres():
        await conn.execute_script(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    else:
        await conn.execute_script("PRAGMA foreign_keys=OFF")
        for table in tables:
            await conn.execute_script(f"DELETE FROM {table}")
        await conn.execute_script("DELETE FROM sqlite_sequence")
        await conn.execute_script("PRAGMA foreign_keys=ON")
    redis = await get_redis()
    if redis is not None:
        await redis.flushdb()
        await redis.set(REDIS_LOCK, str(os.getpid()), ex=3600)
    ratelimit._memory.clear()
    revocation.forget_all()


@pytest.fixture
async def app() -> Any:
    from ncm.app import create_app

    return create_app(manage_db=False)


@dataclass
class GraphQLClient:
    http: Any
    token: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    async def __call__(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        expect_errors: bool = False,
    ) -> dict[str, Any]:
        headers = dict(self.headers)
        bearer = token or self.token
        if bearer:
            headers["authorization"] = f"Bearer {bearer}"
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if not expect_errors:
            assert "errors" not in body, body["errors"]
        return body


@pytest.fixture
async def http(app: Any) -> AsyncIterator[Any]:
    import httpx

    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
def gql(http: Any) -> GraphQLClient:
    return GraphQLClient(http)


class QueryCounter:
    def __init__(self) -> None:
        self.queries: list[str] = []

    @property
    def count(self) -> int:
        return len(self.queries)


class _Handler(logging.Handler):
    def __init__(self, counter: QueryCounter) -> None:
        super().__init__(logging.DEBUG)
        self.counter = counter

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "%s: %s" and record.args:
            self.counter.queries.append(str(record.args[0]))  # type: ignore[index]


@contextmanager
def count_queries() -> Iterator[QueryCounter]:
    """Count the SQL statements Tortoise sends while the block runs."""
    logger = logging.getLogger("tortoise.db_client")
    counter = QueryCounter()
    handler = _Handler(counter)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield counter
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


STRONG_PASSWORD = "correct-horse-42"


async def make_user(
    handle: str = "alice", *, role: Any = None, password: str = STRONG_PASSWORD, **kwargs: Any
) -> Any:
    from ncm.accounts import service
    from ncm.accounts.models import Role

    return await service.create_user(
        f"{handle}@example.com", handle, password, role=role or Role.LISTENER, **kwargs
    )


async def login_token(user: Any) -> str:
    from ncm.accounts import service

    session = await service.login(user.handle, STRONG_PASSWORD, client_ip="198.51.100.1")
    return session.access_token
