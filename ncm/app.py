"""The Starlette application: GraphQL, health, readiness and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from tortoise import connections

from ncm.accounts import revocation
from ncm.config import Settings, get_settings
from ncm.domains import load_jobs
from ncm.http import stripe_webhook
from ncm.http.limits import BodyLimit
from ncm.kit import jobs, replica
from ncm.kit.db import close_db, init_db
from ncm.kit.observability import REGISTRY, RequestContextMiddleware, configure_logging
from ncm.kit.redis import close_redis, get_redis
from ncm.promotion import keys as partner_keys
from ncm.schema.catalog import search as search_page
from ncm.schema.ide import ide_routes
from ncm.schema.lane import LaneView
from ncm.schema.view import GraphQLView
from ncm.stream import http as stream_http

log = logging.getLogger("ncm.app")
READY_TIMEOUT = 2.0


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """503 unless the database and (when configured) Redis answer within two seconds."""
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(connections.get("default").execute_query("SELECT 1"), READY_TIMEOUT)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready"; say which
        checks["database"] = f"error: {type(exc).__name__}"
    if get_settings().redis_url is not None:
        try:
            redis = await get_redis()
            assert redis is not None
            await asyncio.wait_for(redis.ping(), READY_TIMEOUT)
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    else:
        checks["redis"] = "not configured (jobs in-process)"
    ready = all(v == "ok" or v.startswith("not configured") for v in checks.values())
    # The replica never makes the service unready: its reads fall back to the primary.
    replica_status = await replica.status()
    checks["replica"] = replica_status["state"]
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks, "replica": replica_status},
        status_code=200 if ready else 503,
    )


async def _load_partner_keys() -> None:
    """Partner API keys known before the first request (else a valid key is refused until
    the first request's watcher has read them: ncm.promotion.keys fails closed)."""
    try:
        await partner_keys.refresh(force=True)
    except Exception:  # a database not migrated yet: the watcher reads them later
        logging.getLogger(__name__).warning("could not read the partner API keys", exc_info=True)
    partner_keys.watch()


async def metrics(request: Request) -> Response:
    await replica.refresh()  # the lag gauge is fresh even when no read was routed lately
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def tune_gc() -> None:
    """Fewer, cheaper garbage collections for a long-running server: objects alive at startup
    (modules, the schema) move to the permanent generation so full collections skip them, and
    the young generation collects every 50,000 allocations instead of 700. A request leaves
    no reference cycles behind (``tests/comments/test_graphql_pages.py`` checks a comment page), so
    its objects are freed as it ends and collections stay rare; a request that did leave
    cycles would make each collection a pause of tens of milliseconds in the latency tail."""
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(50_000, second, third)


def create_app(settings: Settings | None = None, *, manage_db: bool = True) -> Starlette:
    """``manage_db=False`` leaves Tortoise to the caller (tests open it once per session)."""
    settings = settings or get_settings()
    settings.check_production()
    load_jobs()
    # NCM_FAST_EXECUTOR=0: every request through Strawberry's view (no lean lane).
    graphql = LaneView(settings) if settings.fast_executor else GraphQLView(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        configure_logging()
        if manage_db:
            await init_db(settings.database_url)
            replica.open(settings.database_replica_url)
            await _load_partner_keys()
        tune_gc()
        # Other processes' logouts reach this one's token checks (ncm.accounts.revocation).
        revocations = asyncio.create_task(revocation.keep_fresh()) if settings.redis_url else None
        try:
            yield
        finally:
            if revocations is not None:
                revocations.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await revocations
            await jobs.drain()
            await search_page.drain_cache()  # a search refresh running needs the database
            await close_redis()
            if manage_db:
                await replica.close()
                await close_db()

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        *stream_http.routes(settings),
        *stripe_webhook.routes(settings),
        *([] if settings.production else ide_routes()),
    ]
    middleware = [
        Middleware(RequestContextMiddleware),
        Middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_origin_regex=settings.local_origin_regex,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["authorization", "content-type", "x-request-id"],
            expose_headers=["x-request-id"],
            max_age=600,
        ),
        # Innermost, so a 413 still carries the CORS headers the browser needs to read it.
        Middleware(
            BodyLimit,
            default=settings.max_request_bytes,
            limits={stripe_webhook.PATH: stripe_webhook.MAX_BODY},
        ),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


def app_factory() -> Starlette:
    """For ``uvicorn --factory ncm.app:app_factory``."""
    return create_app()
