"""JSON logs with a request id, and Prometheus metrics."""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import os
import re
import secrets
import sys
import time
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ncm.config import get_settings

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

REGISTRY = CollectorRegistry(auto_describe=True)
HTTP_REQUESTS = Counter(
    "ncm_http_requests_total", "HTTP requests", ["route", "method", "status"], registry=REGISTRY
)
HTTP_DURATION = Histogram(
    "ncm_http_request_seconds", "HTTP request latency", ["route"], registry=REGISTRY
)
GRAPHQL_DURATION = Histogram(
    "ncm_graphql_operation_seconds",
    "GraphQL operation latency by operation name",
    ["operation"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
GRAPHQL_ERRORS = Counter(
    "ncm_graphql_operation_errors_total",
    "GraphQL operations whose result held errors",
    ["operation"],
    registry=REGISTRY,
)

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_MAX_OPERATION_NAMES = 500
_seen_operations: set[str] = set()


def operation_label(name: str | None) -> str:
    """Clients choose operation names: bound the label set so metrics stay small."""
    if not name:
        return "anonymous"
    if name in _seen_operations:
        return name
    if not _NAME_RE.match(name):
        return "invalid"
    if len(_seen_operations) >= _MAX_OPERATION_NAMES:
        return "other"
    _seen_operations.add(name)
    return name


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key in ("method", "path", "status", "duration_ms", "job", "job_id", "operation"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        try:  # one line a request at INFO (the access log): orjson, UTF-8 as it is
            return orjson.dumps(entry, default=str).decode()
        except TypeError:  # what orjson refuses (a lone surrogate, an integer past 64 bits)
            return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging() -> None:
    settings = get_settings()
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    logging.getLogger("tortoise").setLevel(max(logging.INFO, root.level))


_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestIds:
    """Request ids unique across processes without a ``uuid4`` per request: a random prefix
    drawn once per process (again in a forked child) and a counter, e.g. ``9f2c61d04a7be3-1a``."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = secrets.token_hex(7) + "-"
        self.counter = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter):x}"


REQUEST_IDS = RequestIds()


class RequestContextMiddleware:
    """Request id (from ``X-Request-ID`` or new), access log line and HTTP metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = logging.getLogger("ncm.access")
        # Routes are a fixed list; methods are the client's to choose (Children's bound).
        self.counters = Children(HTTP_REQUESTS)
        self.durations = Children(HTTP_DURATION)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope.get("headers") or ():
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                request_id = incoming if _REQUEST_ID_RE.fullmatch(incoming) else None
                break
        request_id = request_id or REQUEST_IDS.next()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        header = (b"x-request-id", request_id.encode())

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append(header)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_label(scope.get("path", ""))
            if scope["type"] == "http":
                self._observe(route, scope.get("method", ""), status, elapsed)
                if route not in ("/healthz", "/metrics") and self.log.isEnabledFor(logging.INFO):
                    self.log.info(
                        "%s %s %s",
                        scope.get("method"),
                        scope.get("path"),
                        status,
                        extra={
                            "method": scope.get("method"),
                            "path": scope.get("path"),
                            "status": status,
                            "duration_ms": round(elapsed * 1000, 2),
                        },
                    )
            request_id_var.reset(token)

    def _observe(self, route: str, method: str, status: int, elapsed: float) -> None:
        self.counters(route, method, str(status)).inc()
        self.durations(route).observe(elapsed)


class Children:
    """A labelled metric's children by their label values, each looked up in the metric
    once (``metric.labels`` takes a lock and builds a tuple on every call). At most
    ``bound`` are kept: past that (label values a client chooses) the cache starts again."""

    def __init__(self, metric: Any, bound: int = 1000) -> None:
        self.metric = metric
        self.bound = bound
        self.found: dict[tuple[str, ...], Any] = {}

    def __call__(self, *labels: str) -> Any:
        child = self.found.get(labels)
        if child is None:
            if len(self.found) >= self.bound:
                self.found.clear()
            child = self.found[labels] = self.metric.labels(*labels)
        return child


def _route_label(path: str) -> str:
    for prefix in ("/graphql", "/stream", "/webhooks", "/healthz", "/readyz", "/metrics"):
        if path.startswith(prefix):
            return prefix
    return "other"
