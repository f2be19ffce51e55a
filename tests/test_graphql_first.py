"""``GraphQLFirst`` (``ncm.app``) sends ``GET`` and ``POST /graphql`` to the GraphQL route
without the router, through the same middleware: every answer, header, metric and what the
view sees in its scope are those of the plain ``Starlette`` application with the same routes
and middleware (what ``NCM_FAST_EXECUTOR=0`` serves)."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Router

from ncm.app import GraphQLFirst, create_app
from ncm.config import get_settings
from ncm.kit.observability import REGISTRY
from ncm.schema.view import GraphQLView

LIMIT = 2000
ALLOWED = "http://app.example"
QUERY = "query G { genres { slug } }"
JSON = {"content-type": "application/json"}


@pytest.fixture
def apps(routed: list[str]) -> tuple[Starlette, Starlette]:
    """(GraphQLFirst, the plain Starlette app over the same routes and middleware), made
    once the router is watched (a router binds its ``app`` when it is made)."""
    settings = dataclasses.replace(
        get_settings(), max_request_bytes=LIMIT, allowed_origins=[ALLOWED], fast_executor=True
    )
    first = create_app(settings, manage_db=False)
    assert type(first) is GraphQLFirst
    plain = Starlette(routes=first.routes, middleware=first.user_middleware)
    return first, plain


@pytest.fixture
async def clients(
    apps: tuple[Starlette, Starlette],
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    made = []
    for app in apps:
        # A crash is answered by Starlette's error middleware (500), then re-raised to the
        # server: the transport keeps the answer instead of raising here.
        transport = httpx.ASGITransport(
            app=app, client=("203.0.113.7", 40000), raise_app_exceptions=False
        )
        made.append(httpx.AsyncClient(transport=transport, base_url="http://test"))
    try:
        yield made[0], made[1]
    finally:
        for client in made:
            await client.aclose()


@pytest.fixture
def routed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the router was asked to route."""
    seen: list[str] = []
    real = Router.app

    async def spy(self: Router, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(scope["path"])
        await real(self, scope, receive, send)

    monkeypatch.setattr(Router, "app", spy)
    return seen


def _body(padding: int = 0) -> bytes:
    return json.dumps({"query": QUERY, "variables": {"pad": "y" * padding}}).encode()


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(body), 500):
        yield body[i : i + 500]


def _requests() -> list[tuple[str, str, dict[str, Any]]]:
    get = "/graphql?" + str(httpx.QueryParams({"query": QUERY}))
    return [
        ("POST", "/graphql", {"content": _body(), "headers": JSON}),
        ("POST", "/graphql", {"content": _body(), "headers": {**JSON, "origin": ALLOWED}}),
        ("POST", "/graphql", {"content": _body(), "headers": {**JSON, "origin": "https://x.test"}}),
        ("POST", "/graphql", {"content": _body(), "headers": {**JSON, "x-request-id": "abc-1"}}),
        ("POST", "/graphql", {"content": _body(), "headers": {**JSON, "x-request-id": "a b"}}),
        ("POST", "/graphql", {"content": b"{nope", "headers": JSON}),
        ("POST", "/graphql", {"content": _body(3000), "headers": {**JSON, "origin": ALLOWED}}),
        ("POST", "/graphql", {"content": lambda: _chunks(_body(3000)), "headers": JSON}),
        ("POST", "/graphql", {"content": lambda: _chunks(_body(10)), "headers": JSON}),
        ("POST", "/graphql", {"content": b"query=x", "headers": {"content-type": "text/plain"}}),
        ("GET", get, {}),
        (
            "GET",
            get,
            {"headers": {"origin": ALLOWED, "accept": "application/graphql-response+json"}},
        ),
        ("GET", "/graphql", {"headers": {"accept": "text/html"}}),  # the IDE (development)
        ("HEAD", "/graphql", {}),
        ("PUT", "/graphql", {"content": _body(), "headers": JSON}),
        ("DELETE", "/graphql", {}),
        (
            "OPTIONS",
            "/graphql",
            {"headers": {"origin": ALLOWED, "access-control-request-method": "POST"}},
        ),
        ("POST", "/graphql/", {"content": _body(), "headers": JSON}),
        ("GET", "/graphql?query=%7B", {}),
        ("GET", "/healthz", {}),
        ("GET", "/nowhere", {}),
    ]


def _http_samples() -> dict[tuple[str, ...], float]:
    found: dict[tuple[str, ...], float] = {}
    for metric in REGISTRY.collect():
        if metric.name in ("ncm_http_requests", "ncm_http_request_seconds"):
            for sample in metric.samples:
                if sample.name.endswith(("_total", "_count")):
                    key = (sample.name, *sorted(f"{k}={v}" for k, v in sample.labels.items()))
                    found[key] = sample.value
    return found


def _delta(before: dict[Any, float], after: dict[Any, float]) -> dict[Any, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


async def test_graphql_first_answers_as_starlette_does(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], routed: list[str]
) -> None:
    shortcuts = 0
    for method, url, kwargs in _requests():
        answers = []
        for client in clients:
            routed.clear()
            before = _http_samples()
            response = await client.request(method, url, **_fresh(kwargs))
            answers.append((response, _delta(before, _http_samples()), list(routed)))
        (ours, our_metrics, our_route), (theirs, their_metrics, their_route) = answers
        where = (method, url, kwargs.get("headers"))
        assert ours.status_code == theirs.status_code, where
        assert ours.content == theirs.content, where
        assert _headers(ours) == _headers(theirs), where
        assert REQUEST_ID.fullmatch(ours.headers["x-request-id"]), where
        if kwargs.get("headers", {}).get("x-request-id") == "abc-1":
            assert ours.headers["x-request-id"] == theirs.headers["x-request-id"] == "abc-1"
        assert our_metrics == their_metrics != {}, where
        # GraphQLFirst routes every request but GET and POST /graphql, which the plain app
        # routes once past the middleware (a declared body over the limit is refused first).
        path = url.split("?")[0]
        if method in ("GET", "POST") and path == "/graphql":
            assert our_route == [], where
            assert their_route == [path] or theirs.status_code == 413, where
            shortcuts += 1
        else:
            assert our_route == their_route, where
    assert shortcuts == 14


def _fresh(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A request's arguments with a new body iterator (a request consumes one)."""
    content = kwargs.get("content")
    if callable(content):
        return {**kwargs, "content": content()}
    return kwargs


def _headers(response: httpx.Response) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in response.headers.items() if k != "x-request-id")


async def test_a_crash_is_the_same_500(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def crash(self: Any, request: Any, *args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(GraphQLView, "run", crash)
    monkeypatch.setattr("ncm.schema.lane.LaneView.run", crash)
    first, plain = clients
    answers = []
    for client in clients:
        before = _http_samples()
        response = await client.post("/graphql", content=_body(), headers=JSON)
        answers.append((response.status_code, response.text, _delta(before, _http_samples())))
    assert answers[0] == answers[1]
    assert answers[0][0] == 500 and answers[0][1] == "Internal Server Error"
    assert first is not plain


async def test_the_view_sees_the_scope_the_router_would_give(
    apps: tuple[Starlette, Starlette],
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scopes: list[dict[str, Any]] = []
    real = GraphQLView.__call__

    async def spy(self: Any, scope: Any, receive: Any, send: Any) -> None:
        scopes.append(dict(scope))
        await real(self, scope, receive, send)

    monkeypatch.setattr(GraphQLView, "__call__", spy)
    for client in clients:
        assert (await client.post("/graphql", content=_body(), headers=JSON)).status_code == 200
    ours, theirs = scopes
    assert ours.keys() == theirs.keys()
    assert ours["app"] is apps[0] and theirs["app"] is apps[1]
    assert ours["router"] is apps[0].router
    assert ours["route"] is theirs["route"] and ours["route"].path == "/graphql"
    assert ours["endpoint"] is theirs["endpoint"]
    assert ours["path_params"] == theirs["path_params"] == {}


def test_the_switch_serves_plain_starlette() -> None:
    off = create_app(dataclasses.replace(get_settings(), fast_executor=False), manage_db=False)
    assert type(off) is Starlette
