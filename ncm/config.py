"""Settings read from the environment (every variable starts with ``NCM_``).

The README documents each variable. ``get_settings()`` caches one instance per process;
tests call ``reset_settings()`` after changing the environment.
"""

from __future__ import annotations

import os
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
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

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
    return Settings(
        production=(_env("ENV", "development") or "").lower() == "production",
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
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings() -> None:
    get_settings.cache_clear()
