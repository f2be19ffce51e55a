"""One Redis connection pool per process (an ArqRedis, so jobs and caches share it).

``None`` when ``NCM_REDIS_URL`` is unset: the embedded default keeps jobs, rate limits and
pub/sub in memory.
"""

from __future__ import annotations

from urllib.parse import urlparse

from arq.connections import ArqRedis, RedisSettings, create_pool

from ncm.config import get_settings

_pool: ArqRedis | None = None


async def get_redis() -> ArqRedis | None:
    global _pool
    url = get_settings().redis_url
    if url is None:
        return None
    if _pool is None:
        _pool = await create_pool(RedisSettings.from_dsn(url))
    return _pool


async def close_redis() -> None:
    global _pool
    if _pool is not None:
        await _pool.aclose()
        _pool = None


def namespaced(kind: str, name: str) -> str:
    """A Redis key for shared state, namespaced by the database name, so test runs and
    deployments that share a Redis never see each other's keys."""
    database = urlparse(get_settings().database_url).path.rsplit("/", 1)[-1] or "default"
    return f"ncm:{kind}:{database}:{name}"
