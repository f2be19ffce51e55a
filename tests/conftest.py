"""Test setup: a fresh database (PostgreSQL by default, SQLite with NCM_TEST_BACKEND=sqlite),
real Redis on PostgreSQL runs, migrations applied once, every table emptied after each test.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

BACKEND = os.environ.get("NCM_TEST_BACKEND", "postgres")

# Redis: the run uses the database NCM_TEST_REDIS_URL names (given to the tests: they empty
# it), or claims one of 15..1 that it proves empty: the check and the claim are one script, so
# two runs never take the same one. It empties only the database it holds the claim on, and
# only while the claim is still its own (another program's data is never flushed).
REDIS_CLAIM = "ncm:test:owner"
CLAIM_TOKEN = f"{os.getpid()}:{uuid.uuid4().hex}"
CLAIM_SECONDS = 3600
_CLAIM_IF_EMPTY = """
if redis.call('DBSIZE') ~= 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
_EMPTY_IF_OURS = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('FLUSHDB')
if ARGV[2] ~= '0' then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end
return 1
"""


_TAKE_OVER_IF_ONLY_CLAIM = """
if redis.call('DBSIZE') ~= 1 or redis.call('GET', KEYS[1]) ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


def _abandoned(claim: bytes | None) -> bool:
    """A claim of a test run on this machine that has ended (its process is gone)."""
    pid = (claim or b"").decode(errors="replace").split(":", 1)[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _claim_redis_db() -> str:
    """An empty Redis database, claimed for this run (or one that holds nothing but the claim
    of a run on this machine that has ended, taken over in one step)."""
    import redis

    for db in range(15, 0, -1):
        client = redis.Redis(host="127.0.0.1", port=6379, db=db)
        try:
            claimed = client.eval(_CLAIM_IF_EMPTY, 1, REDIS_CLAIM, CLAIM_TOKEN, CLAIM_SECONDS)
            if not claimed and client.dbsize() == 1:
                stale = client.get(REDIS_CLAIM)
                if _abandoned(stale):
                    claimed = client.eval(
                        _TAKE_OVER_IF_ONLY_CLAIM, 1, REDIS_CLAIM, CLAIM_TOKEN, CLAIM_SECONDS, stale
                    )
            if claimed:
                # A run that empties its database in two steps (flush, then claim again, as
                # older versions of this file do) looks empty between them: look again.
                time.sleep(0.2)
                if client.get(REDIS_CLAIM) == CLAIM_TOKEN.encode():
                    return f"redis://127.0.0.1:6379/{db}"
        finally:
            client.close()
    raise RuntimeError(
        "no empty Redis database among 15..1 (other runs or programs hold them): "
        "set NCM_TEST_REDIS_URL to a database the tests may empty"
    )


def _claim_named_redis_db(url: str) -> str:
    """The database NCM_TEST_REDIS_URL names is the tests' own: claimed whatever it holds."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.set(REDIS_CLAIM, CLAIM_TOKEN, ex=CLAIM_SECONDS)
    finally:
        client.close()
    return url


async def empty_redis(redis: Any, *, keep_claim: bool = True) -> None:
    """Flush this run's Redis database (keeping the claim), refusing if it is no longer ours."""
    ttl = CLAIM_SECONDS if keep_claim else 0
    if not await redis.eval(_EMPTY_IF_OURS, 1, REDIS_CLAIM, CLAIM_TOKEN, ttl):
        raise RuntimeError(
            f"this test run lost its claim on {os.environ.get('NCM_REDIS_URL')}: "
            "another program uses it, so it is not flushed"
        )


PG_ADMIN_DSN = os.environ.get("NCM_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_DB = f"ncm_test_{os.getpid()}"
_tmp = tempfile.mkdtemp(prefix="ncm-test-")
SQLITE_FILE = f"{_tmp}/test.sqlite3"

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
    named = os.environ.get("NCM_TEST_REDIS_URL")
    os.environ["NCM_REDIS_URL"] = _claim_named_redis_db(named) if named else _claim_redis_db()
else:
    os.environ["NCM_DATABASE_URL"] = f"sqlite://{SQLITE_FILE}"
    os.environ.pop("NCM_REDIS_URL", None)

from ncm.config import reset_settings  # noqa: E402

reset_settings()


# The tests that take seconds each (a server or browser started, the migration chain applied
# to an empty database, a worker killed, audio synthesized), measured with --durations. They
# go first: xdist hands tests out in order, and one of them last would leave the other
# worker idle for its whole length.
SLOW_FIRST = (
    "tests/test_graphiql.py::test_chromium",
    "tests/kit/test_partitions.py::test_the_migration_keeps",
    "tests/test_migrations.py::test_the_whole_chain",
    "tests/test_server.py",
    "tests/comments/test_graphql_live.py",
    "tests/seeding/test_demo.py",
    "tests/security/test_fuzz.py",
    "tests/security/test_cost.py::test_cost_under_inherited",
    "tests/stream/test_ingest.py::test_a_worker_killed",
    "tests/compensation/test_crash.py",
    "tests/playlists/test_graphql_entries.py::test_entry_pages_cost",
    "tests/test_migrations.py::test_models_have_no_unmigrated",
)


def _slow_rank(item: pytest.Item) -> int:
    for rank, prefix in enumerate(SLOW_FIRST):
        if item.nodeid.startswith(prefix):
            return rank
    return len(SLOW_FIRST)


def _name_xdist_groups(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give a test of an ``xdist_group`` the ``@group`` suffix ``--dist loadgroup`` schedules by.

    pytest-xdist 3.8 writes the suffix to ``item._nodeid``, which pytest 9.2 no longer reads (the
    id lives in ``item._id``): every group was spread over the workers, and a module's shared
    servers and the demo's audio were made once per worker. Written here until xdist follows.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import NodeId

    for item in items:
        names = sorted(
            {
                str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                for m in item.iter_markers("xdist_group")
            }
        )
        suffix = "@" + "_".join(names)
        if names and not item.nodeid.endswith(suffix):
            item._id = NodeId.parse(item.nodeid + suffix)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _name_xdist_groups(config, items)
    items.sort(key=_slow_rank)  # stable: the rest keep their order
    if BACKEND == "postgres":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL and Redis (runs in the PostgreSQL pass)")
    once = pytest.mark.skip(reason="the same on both backends (runs in the PostgreSQL pass)")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)
        elif "backend_independent" in item.keywords:
            item.add_marker(once)


def _schema_key(backend: str = BACKEND) -> str:
    """What decides the migrated schema: the migration files, the code that runs them and the
    Tortoise version. A template database made from the same key is the same database."""
    import hashlib

    import tortoise

    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(f"{backend}:{tortoise.__version__}".encode())
    for path in [*sorted((root / "migrations").glob("*.py")), root / "ncm/kit/migrate.py"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


# Migrating an empty database costs ~15 s of Python (Tortoise rebuilds its model state for
# every step), in every test process. The first run after a migration changes builds a
# template from an empty database; every later process clones it (a fraction of a second).
# tests/test_migrations.py applies the whole chain to an empty database on each backend.
TEMPLATE_PREFIX = "ncm_tpl_"
TEMPLATE_LOCK = 7_301_101  # pg_advisory_lock key: builds and clones one at a time


async def _create_pg_database() -> None:
    import asyncpg

    from ncm.kit.migrate import upgrade

    template = TEMPLATE_PREFIX + _schema_key()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
        await conn.execute("SELECT pg_advisory_lock($1)", TEMPLATE_LOCK)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", template):
                build = f"{template}_build"
                await conn.execute(f'DROP DATABASE IF EXISTS "{build}" WITH (FORCE)')
                await conn.execute(f'CREATE DATABASE "{build}"')
                await upgrade(f"{base}/{build}")
                await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                    build,
                )
                await conn.execute(f'ALTER DATABASE "{build}" RENAME TO "{template}"')
                # Templates of older migrations go (other runs clone only under this lock).
                for old in await conn.fetch(
                    "SELECT datname FROM pg_database WHERE datname LIKE $1 AND datname <> $2",
                    TEMPLATE_PREFIX + "%",
                    template,
                ):
                    await conn.execute(f'DROP DATABASE IF EXISTS "{old[0]}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{TEST_DB}" TEMPLATE "{template}"')
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", TEMPLATE_LOCK)
        # A test database need not survive a crash: commits do not wait for the disk (every
        # connection to it, the CLI and server subprocesses included). Nothing else changes.
        await conn.execute(f'ALTER DATABASE "{TEST_DB}" SET synchronous_commit = off')
    finally:
        await conn.close()


def copy_sqlite_template(destination: str | Path) -> None:
    """A migrated SQLite database at ``destination``: a copy of the file built once for the
    schema's key (under a file lock, which also keeps another run's build from removing the
    file while it is copied)."""
    import fcntl
    import shutil

    from ncm.kit.migrate import upgrade

    folder = Path(tempfile.gettempdir()) / "ncm-test-templates"
    folder.mkdir(exist_ok=True)
    template = folder / f"sqlite-{_schema_key('sqlite')}.sqlite3"
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not template.exists():
            build = folder / f"build-{os.getpid()}.sqlite3"
            build.unlink(missing_ok=True)
            # Its own thread and event loop, as `ncm db upgrade` has (a caller may be on the
            # test session's loop, or a sync fixture beside it).
            with ThreadPoolExecutor(1) as pool:
                pool.submit(asyncio.run, upgrade(f"sqlite://{build}")).result()
            for old in folder.glob("sqlite-*.sqlite3"):
                old.unlink()
            os.replace(build, template)
        shutil.copyfile(template, destination)


def _create_sqlite_database() -> None:
    copy_sqlite_template(SQLITE_FILE)


async def _drop_pg_database() -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session", autouse=True)
async def database() -> AsyncIterator[None]:
    """A migrated database (cloned from the schema's template), then the ORM for every test."""
    from ncm.kit.db import close_db, init_db

    if BACKEND == "postgres":
        await _create_pg_database()
    else:
        await asyncio.to_thread(_create_sqlite_database)
    await init_db()
    # A template migrated on an earlier day lacks the partitions ahead of today: made here, as
    # the hourly job does in a deployment (nothing on SQLite).
    from ncm.kit.partitions import maintain

    await maintain(drop=False)
    # What a server process does on its first request (ncm.promotion.keys.watch): read the
    # partner API keys; here, before any test counts the statements of its requests.
    from ncm.promotion import keys as partner_keys

    await partner_keys.refresh()
    yield
    partner_keys.forget()  # stops the watcher the requests started
    from ncm.kit.redis import close_redis, get_redis

    redis = await get_redis()
    if redis is not None:
        await empty_redis(redis, keep_claim=False)  # releases the claim too
    await close_redis()
    await close_db()
    if BACKEND == "postgres":
        await _drop_pg_database()


async def _tables() -> list[str]:
    from tortoise import Tortoise

    return [m._meta.db_table for app in Tortoise.apps.values() for m in app.values()]


# Each table's id sequences (PostgreSQL), read once: a table whose sequence was used since its
# last restart may have had rows, even if none are left.
_SEQUENCES_SQL = """
SELECT t.relname AS table_name, s.relname AS sequence_name
FROM pg_class s
JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i')
JOIN pg_class t ON t.oid = d.refobjid
WHERE s.relkind = 'S'
"""
_sequences: dict[str, list[str]] = {}
BIG_TABLE = 500  # rows


async def _empty_postgres(conn: Any, tables: list[str]) -> None:
    """Empty the tables a test wrote to and restart their sequences, in one transaction.

    TRUNCATE of every table costs 0.3-0.5 s a test (it replaces every table's files); finding
    the few tables a test touched (rows left, or a sequence used) and deleting their rows with
    foreign-key triggers off costs a few milliseconds. A test that left a big table (seeds,
    scale tests) gets the TRUNCATE: no dead rows for the next test's plans."""
    if not _sequences:
        for row in await conn.execute_query_dict(_SEQUENCES_SQL):
            _sequences.setdefault(row["table_name"], []).append(row["sequence_name"])
    by_sequence = {seq: table for table, seqs in _sequences.items() for seq in seqs}
    counts = " UNION ALL ".join(
        f"SELECT '{table}' AS name, (SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT "
        f"{BIG_TABLE}) AS x) AS n"
        for table in tables
    )
    rows = await conn.execute_query_dict(
        f"{counts} UNION ALL SELECT sequencename AS name, 0 AS n FROM pg_sequences "
        "WHERE last_value IS NOT NULL AND schemaname = current_schema()"
    )
    if any(row["n"] >= BIG_TABLE for row in rows):
        await conn.execute_script(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        return
    used = [row["name"] for row in rows if row["n"] or row["name"] in by_sequence]
    dirty = {by_sequence.get(name, name) for name in used} & set(tables)
    if not dirty:
        return
    statements = ["BEGIN", "SET LOCAL session_replication_role = replica"]
    statements += [f"DELETE FROM {table}" for table in sorted(dirty)]
    statements += [f"ALTER SEQUENCE {seq} RESTART" for t in dirty for seq in _sequences.get(t, [])]
    try:
        await conn.execute_script("; ".join([*statements, "COMMIT"]))
    except Exception:  # e.g. a deadlock with work a failed test left running: the slow way
        await asyncio.sleep(0.5)
        await conn.execute_script(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


async def _empty_sqlite(conn: Any, tables: list[str]) -> None:
    """Every table emptied in one transaction (one sync instead of one per table)."""
    deletes = "; ".join(f"DELETE FROM {table}" for table in tables)
    await conn.execute_script(
        f"PRAGMA foreign_keys=OFF; BEGIN; {deletes}; DELETE FROM sqlite_sequence; COMMIT; "
        "PRAGMA foreign_keys=ON"
    )


@pytest.fixture(autouse=True)
async def clean_state() -> AsyncIterator[None]:
    yield
    from tortoise import connections

    from ncm.accounts import revocation, tokens
    from ncm.kit import jobs, ratelimit
    from ncm.kit.db import is_postgres
    from ncm.kit.redis import get_redis
    from ncm.schema.catalog import search as search_page

    await jobs.drain()
    await search_page.drain_cache()  # a refresh still running must not see emptied tables
    search_page.clear_cache()  # ids restart with every test: no page of an earlier one
    conn = connections.get("default")
    tables = await _tables()
    if is_postgres():
        await _empty_postgres(conn, tables)
    else:
        await _empty_sqlite(conn, tables)
    redis = await get_redis()
    if redis is not None:
        await empty_redis(redis)
    ratelimit._memory.clear()
    revocation.forget_all()
    tokens.forget_verified()
    # Ids restart with every test: playback's in-process fallback cache must not answer a
    # later test's track 1 with an earlier test's facts.
    from ncm.stream import cache as playback_cache

    playback_cache.clear_memory()


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
