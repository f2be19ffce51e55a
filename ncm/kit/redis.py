"""One Redis connection pool per process and event loop (an ArqRedis, so jobs and caches
share it; a pool works only on the loop that opened it, and a CLI command run in-process by
the tests has its own loop).

``None`` when ``NCM_REDIS_URL`` is unset: the embedded default keeps jobs, rate limits and
pub/sub in memory.
"""

from __future__ import annotations

import asyncio
import weakref
from urllib.parse import urlparse

from arq.connections import ArqRedis, RedisSettings, create_pool

from ncm.config import get_settings

_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ArqRedis] = weakref.WeakKeyDictionary()


async def get_redis() -> ArqRedis | None:
    url = get_settings().redis_url
    if url is None:
        return None
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        pool = await create_pool(RedisSettings.from_dsn(url))
        _pools[loop] = pool
    return pool


async def close_redis() -> None:
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await pool.aclose()


def namespaced(kind: str, name: str) -> str:
    """A Redis key for shared state, namespaced by the database name, so test runs and
    deployments that share a Redis never see each other's keys."""
    database = urlparse(get_settings().database_url).path.rsplit("/", 1)[-1] or "default"
    return f"ncm:{kind}:{database}:{name}"
