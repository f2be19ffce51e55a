"""JSON logs with a request id, and Prometheus metrics."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from typing import Any

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
    if not _NAME_RE.match(name):
        return "invalid"
    if name not in _seen_operations:
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
        return json.dumps(entry, ensure_ascii=False)


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


class RequestContextMiddleware:
    """Request id (from ``X-Request-ID`` or new), access log line and HTTP metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = logging.getLogger("ncm.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", incoming) else None
        request_id = request_id or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_label(scope.get("path", ""))
            if scope["type"] == "http":
                HTTP_REQUESTS.labels(route, scope.get("method", ""), str(status)).inc()
                HTTP_DURATION.labels(route).observe(elapsed)
                if route not in ("/healthz", "/metrics"):
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


def _route_label(path: str) -> str:
    for prefix in ("/graphql", "/stream", "/webhooks", "/healthz", "/readyz", "/metrics"):
        if path.startswith(prefix):
            return prefix
    return "other"
