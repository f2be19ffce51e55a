"""Settings read from the environment (every variable starts with ``NCM_``).

The README documents each variable. ``get_settings()`` caches one instance per process;
tests call ``reset_settings()`` after changing the environment.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

DEV_SECRET = "dev-insecure-secret-change-me"
DEV_STREAM_KEY = "k1:dev-insecure-stream-key-change-me"


class ConfigError(RuntimeError):
    """The configuration is unusable (for example default secrets in production)."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(f"NCM_{name}")
    return value if value not in (None, "") else default


def _int(name: str, default: int) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"NCM_{name} must be an integer, got {raw!r}") from exc


def _bool(name: str, default: bool) -> bool:
    raw = _env(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _list(name: str, default: str = "") -> list[str]:
    raw = _env(name, default) or ""
    return [item.strip() for item in raw.split(",") if item.strip()]


LOCAL_ORIGIN = r"https?://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?"


@dataclass(frozen=True)
class Settings:
    production: bool
    data_dir: Path
    database_url: str
    redis_url: str | None
    secret_key: str
    stream_signing_keys: dict[str, str]
    stripe_api_key: str | None
    stripe_webhook_secret: str | None
    stripe_api_base: str | None
    allowed_origins: list[str]
    media_root: Path
    access_token_ttl: int
    refresh_token_ttl: int
    login_max_failures: int
    login_window_seconds: int
    login_ip_max_failures: int
    graphql_max_depth: int
    graphql_max_aliases: int
    graphql_max_tokens: int
    max_page_size: int
    log_level: str
    log_json: bool
    argon2_time_cost: int
    argon2_memory_kib: int
    comment_rate_per_minute: int
    play_reports_per_minute: int
    max_request_bytes: int
    extra: dict[str, str] = field(default_factory=dict)
    # Playback (docs/playback.md): the origin signed stream URLs point at (None: this
    # service's own /stream), their lifetime, and the degraded-mode budget and cache.
    stream_cdn_base_url: str | None = None
    stream_url_ttl: int = 20 * 60
    playback_db_timeout_ms: int = 1500
    playback_cache_ttl: int = 600
    # Security (docs/security.md): the cost limit of an operation, the time budget of its
    # validation, and the edge's country header that decides the playback region.
    graphql_max_cost: int = 50_000
    graphql_max_breadth: int = 100
    graphql_validation_budget_ms: int = 500
    geo_header: str | None = None
    # The GraphQL hot path (docs/graphql.md): the executor's plain-field fast path (off: the
    # stock graphql-core executor), and how long a shared cache may keep a public answer to a
    # GET (persisted query, no credentials).
    fast_executor: bool = True
    graphql_public_max_age: int = 60
    # Pooled PostgreSQL connections released without asyncio.shield when nothing can wait
    # (ncm.kit.pgpool); off: asyncpg's own release for every connection.
    db_lean_release: bool = True
    # Scale-out (docs/scaling.md): how reported plays reach the database ("auto": through a
    # Redis stream drained in batches when Redis and PostgreSQL are configured, else
    # directly), the batch a drain writes, how long a play id is remembered in Redis, and
    # the partitioned event tables' window and retention.
    play_ingest: str = "auto"
    play_flush_batch: int = 5000
    play_claim_idle_ms: int = 30_000
    play_dedupe_seconds: int = 2 * 24 * 3600
    partitions_ahead: int = 3
    partitions_behind: int = 32
    event_retention_days: int = 90
    # Scale-out (docs/scaling.md, "Replica and pooling"): a streaming replica for reads that
    # tolerate a little lag, the lag past which they go back to the primary, how often the
    # lag is measured, how long a viewer's reads stay on the primary after they wrote, and
    # PgBouncer in transaction mode in front of the database (no prepared statements).
    database_replica_url: str | None = None
    replica_max_lag_ms: int = 1000
    replica_check_ms: int = 1000
    replica_sticky_ms: int = 5000
    database_pgbouncer: bool = False
    # Search (docs/search.md, "Cache"): how long a process serves a first page of search
    # results from memory before one background task reads it again (0: no cache). The
    # default is 5 in production and 0 in development and tests.
    search_cache_seconds: int = 0

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def local_origin_regex(self) -> str | None:
        """In development, pages on this machine (``http://localhost:5173``, any port) may
        call the API and open websockets; production allows only ``NCM_ALLOWED_ORIGINS``."""
        return None if self.production else LOCAL_ORIGIN

    def origin_allowed(self, origin: str) -> bool:
        regex = self.local_origin_regex
        return origin in self.allowed_origins or (
            regex is not None and re.fullmatch(regex, origin) is not None
        )

    @property
    def jobs_in_process(self) -> bool:
        return self.redis_url is None

    def check_production(self) -> None:
        """Refuse to run in production with a secret anyone can read in this repository."""
        if not self.production:
            return
        problems = []
        if self.secret_key == DEV_SECRET or len(self.secret_key) < 32:
            problems.append("NCM_SECRET_KEY must be set to a random value of 32+ characters")
        if any(f"{k}:{v}" == DEV_STREAM_KEY for k, v in self.stream_signing_keys.items()):
            problems.append("NCM_STREAM_SIGNING_KEYS must not contain the development key")
        if self.argon2_time_cost < 2 or self.argon2_memory_kib < 19456:
            problems.append("NCM_ARGON2_* must not be weakened below OWASP's minimum")
        if not 60 <= self.stream_url_ttl <= 24 * 3600:
            problems.append("NCM_STREAM_URL_TTL must be between 60 and 86400 seconds")
        if self.stream_cdn_base_url and not self.stream_cdn_base_url.startswith("https://"):
            problems.append("NCM_STREAM_CDN_BASE_URL must be an https:// URL")
        if self.stripe_api_key and not self.stripe_webhook_secret:
            problems.append("NCM_STRIPE_WEBHOOK_SECRET must be set when NCM_STRIPE_API_KEY is")
        if self.stripe_api_base and not self.stripe_api_base.startswith("https://"):
            problems.append("NCM_STRIPE_API_BASE must be unset (or https://) in production")
        if problems:
            raise ConfigError("refusing to start in production: " + "; ".join(problems))


def _parse_keys(raw: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        kid, sep, secret = item.partition(":")
        if not sep or not kid or not secret:
            raise ConfigError("NCM_STREAM_SIGNING_KEYS is a comma list of keyid:secret pairs")
        keys[kid] = secret
    return keys


def load_settings() -> Settings:
    data_dir = Path(_env("DATA_DIR", "data") or "data")
    database_url = _env("DATABASE_URL") or f"sqlite://{data_dir / 'ncm.sqlite3'}"
    production = (_env("ENV", "development") or "").lower() == "production"
    return Settings(
        production=production,
        data_dir=data_dir,
        database_url=database_url,
        redis_url=_env("REDIS_URL"),
        secret_key=_env("SECRET_KEY", DEV_SECRET) or DEV_SECRET,
        stream_signing_keys=_parse_keys(_env("STREAM_SIGNING_KEYS", DEV_STREAM_KEY) or ""),
        stripe_api_key=_env("STRIPE_API_KEY"),
        stripe_webhook_secret=_env("STRIPE_WEBHOOK_SECRET"),
        stripe_api_base=_env("STRIPE_API_BASE"),
        allowed_origins=_list("ALLOWED_ORIGINS", "http://127.0.0.1:8000,http://localhost:8000"),
        media_root=Path(_env("MEDIA_ROOT") or str(data_dir / "media")),
        access_token_ttl=_int("ACCESS_TOKEN_TTL", 15 * 60),
        refresh_token_ttl=_int("REFRESH_TOKEN_TTL", 30 * 24 * 3600),
        login_max_failures=_int("LOGIN_MAX_FAILURES", 5),
        login_window_seconds=_int("LOGIN_WINDOW_SECONDS", 15 * 60),
        login_ip_max_failures=_int("LOGIN_IP_MAX_FAILURES", 50),
        graphql_max_depth=_int("GRAPHQL_MAX_DEPTH", 12),
        graphql_max_aliases=_int("GRAPHQL_MAX_ALIASES", 30),
        graphql_max_tokens=_int("GRAPHQL_MAX_TOKENS", 5000),
        max_page_size=_int("MAX_PAGE_SIZE", 100),
        log_level=(_env("LOG_LEVEL", "INFO") or "INFO").upper(),
        log_json=_bool("LOG_JSON", True),
        argon2_time_cost=_int("ARGON2_TIME_COST", 3),
        argon2_memory_kib=_int("ARGON2_MEMORY_KIB", 65536),
        comment_rate_per_minute=_int("COMMENT_RATE_PER_MINUTE", 5),
        play_reports_per_minute=_int("PLAY_REPORTS_PER_MINUTE", 120),
        max_request_bytes=_int("MAX_REQUEST_BYTES", 1024 * 1024),
        stream_cdn_base_url=(_env("STREAM_CDN_BASE_URL") or "").rstrip("/") or None,
        stream_url_ttl=_int("STREAM_URL_TTL", 20 * 60),
        playback_db_timeout_ms=_int("PLAYBACK_DB_TIMEOUT_MS", 1500),
        playback_cache_ttl=_int("PLAYBACK_CACHE_TTL", 600),
        graphql_max_cost=_int("GRAPHQL_MAX_COST", 50_000),
        graphql_max_breadth=_int("GRAPHQL_MAX_BREADTH", 100),
        graphql_validation_budget_ms=_int("GRAPHQL_VALIDATION_BUDGET_MS", 500),
        geo_header=(_env("GEO_HEADER") or "").strip().lower() or None,
        fast_executor=_bool("FAST_EXECUTOR", True),
        db_lean_release=_bool("DB_LEAN_RELEASE", True),
        graphql_public_max_age=_int("GRAPHQL_PUBLIC_MAX_AGE", 60),
        play_ingest=(_env("PLAY_INGEST", "auto") or "auto").strip().lower(),
        play_flush_batch=_int("PLAY_FLUSH_BATCH", 5000),
        play_claim_idle_ms=_int("PLAY_CLAIM_IDLE_MS", 30_000),
        play_dedupe_seconds=_int("PLAY_DEDUPE_SECONDS", 2 * 24 * 3600),
        partitions_ahead=_int("PARTITIONS_AHEAD", 3),
        partitions_behind=_int("PARTITIONS_BEHIND", 32),
        event_retention_days=_int("EVENT_RETENTION_DAYS", 90),
        database_replica_url=_env("DATABASE_REPLICA_URL"),
        replica_max_lag_ms=_int("REPLICA_MAX_LAG_MS", 1000),
        replica_check_ms=_int("REPLICA_CHECK_MS", 1000),
        replica_sticky_ms=_int("REPLICA_STICKY_MS", 5000),
        database_pgbouncer=_bool("DATABASE_PGBOUNCER", False),
        search_cache_seconds=_int("SEARCH_CACHE_SECONDS", 5 if production else 0),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings() -> None:
    get_settings.cache_clear()
