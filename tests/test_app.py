from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest

from ncm.config import ConfigError, get_settings
from tests.conftest import GraphQLClient


async def test_healthz(http: httpx.AsyncClient) -> None:
    r = await http.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert r.headers["x-request-id"]


async def test_request_id_is_echoed_when_sane(http: httpx.AsyncClient) -> None:
    r = await http.get("/healthz", headers={"x-request-id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await http.get("/healthz", headers={"x-request-id": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces"


async def test_readyz_ok(http: httpx.AsyncClient) -> None:
    r = await http.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"]["database"] == "ok"


async def test_readyz_503_when_database_fails(http: httpx.AsyncClient, monkeypatch) -> None:
    from tortoise import connections

    conn = connections.get("default")

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("database is gone")

    monkeypatch.setattr(conn, "execute_query", broken)
    r = await http.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["database"] == "error: ConnectionError"


@pytest.mark.postgres_only
async def test_readyz_503_when_redis_is_unreachable(http: httpx.AsyncClient, monkeypatch) -> None:
    from ncm import app as app_module

    async def no_redis() -> Any:
        raise ConnectionRefusedError()

    monkeypatch.setattr(app_module, "get_redis", no_redis)
    r = await http.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["redis"].startswith("error")


async def test_graphql_get_runs_queries_but_not_mutations(http: httpx.AsyncClient) -> None:
    r = await http.get("/graphql", params={"query": "{ genres { slug } }"})
    assert r.status_code == 200 and r.json() == {"data": {"genres": []}}
    r = await http.get("/graphql", params={"query": "mutation { logout { revoked } }"})
    assert r.status_code == 405


async def test_graphiql_served_in_development(http: httpx.AsyncClient) -> None:
    r = await http.get("/graphql", headers={"accept": "text/html"})
    assert r.status_code == 200 and "graphiql" in r.text.lower()


async def test_metrics_by_operation_name(gql: GraphQLClient, http: httpx.AsyncClient) -> None:
    await gql("query GenreList { genres { slug } }")
    text = (await http.get("/metrics")).text
    assert 'ncm_graphql_operation_seconds_count{operation="GenreList"}' in text
    assert "ncm_http_requests_total" in text


async def test_limits_on_depth_aliases_and_tokens(http: httpx.AsyncClient) -> None:
    """Refused operations are 400 with the figure and the limit (more: tests/security)."""
    deep = (
        "{ viewer { user { followers { edges { node { followers { edges { node { followers {"
        " edges { node { followers { edges { node { handle } } } } } } } } } } } } } } }"
    )
    aliases = "{ " + " ".join(f"g{i}: genres {{ slug }}" for i in range(40)) + " }"
    tokens = "{ " + " ".join("__typename" for _ in range(6000)) + " }"
    for query, words in (
        (deep, "exceeds maximum operation depth"),
        (aliases, "aliases"),
        (tokens, "tokens"),
    ):
        r = await http.post("/graphql", json={"query": query})
        assert r.status_code == 400, r.text
        assert words in r.json()["errors"][0]["message"]


async def test_syntax_errors_have_a_code(gql: GraphQLClient) -> None:
    body = await gql("{ genres { ", expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def production_settings(**overrides: Any) -> Any:
    # The billing tests point Stripe at a local emulator over http, which production refuses.
    overrides = {"stripe_api_base": None, **overrides}
    return dataclasses.replace(get_settings(), production=True, **overrides)


def test_production_refuses_default_secrets() -> None:
    from ncm.app import create_app

    with pytest.raises(ConfigError, match="NCM_SECRET_KEY"):
        create_app(production_settings(), manage_db=False)


@pytest.fixture
async def prod_http() -> Any:
    from ncm.app import create_app
    from ncm.schema.schema import get_schema

    settings = production_settings(
        secret_key="s" * 40,
        stream_signing_keys={"k9": "x" * 40},
        argon2_time_cost=3,
        argon2_memory_kib=65536,
    )
    transport = httpx.ASGITransport(app=create_app(settings, manage_db=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client
    get_schema.cache_clear()


async def test_production_hides_introspection_graphiql_and_internal_errors(
    prod_http: httpx.AsyncClient, monkeypatch
) -> None:
    body = await prod_http.post("/graphql", json={"query": "{ __schema { types { name } } }"})
    assert "errors" in body.json()
    r = await prod_http.get("/graphql", headers={"accept": "text/html"})
    assert "graphiql" not in r.text.lower()

    from ncm.catalog import service

    async def boom() -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(service, "all_genres", boom)
    body = (await prod_http.post("/graphql", json={"query": "{ genres { slug } }"})).json()
    error = body["errors"][0]
    assert "secret internal detail" not in error["message"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["extensions"]["requestId"]
    # Expected errors still tell the truth in production.
    body = (await prod_http.post("/graphql", json={"query": '{ track(id: "%%") { id } }'})).json()
    assert body["errors"][0]["extensions"]["code"] == "INVALID_ID"


def test_cors_allows_configured_origins_only() -> None:
    from starlette.testclient import TestClient

    from ncm.app import create_app

    client = TestClient(create_app(manage_db=False))
    ok = client.options(
        "/graphql",
        headers={"origin": "http://localhost:8000", "access-control-request-method": "POST"},
    )
    assert ok.headers.get("access-control-allow-origin") == "http://localhost:8000"
    bad = client.options(
        "/graphql",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in bad.headers


def test_json_log_lines_carry_the_request_id() -> None:
    import json
    import logging

    from ncm.kit.observability import JsonFormatter, request_id_var

    token = request_id_var.set("req-42")
    try:
        record = logging.LogRecord(
            "ncm.test", logging.INFO, __file__, 1, "played %s", ("晴天",), None
        )
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["message"] == "played 晴天" and line["request_id"] == "req-42"
    assert line["level"] == "INFO" and line["time"].endswith("Z")


def test_operation_label_is_bounded() -> None:
    from ncm.kit import observability

    assert observability.operation_label(None) == "anonymous"
    assert observability.operation_label("bad name!") == "invalid"
    observability._seen_operations.update(f"Op{i}" for i in range(600))
    try:
        assert observability.operation_label("BrandNewOperation") == "other"
    finally:
        observability._seen_operations.clear()


async def test_validation_is_cached_across_requests(gql: GraphQLClient) -> None:
    from ncm.schema.schema import get_schema

    guard = get_schema(False).guard  # type: ignore[attr-defined]
    query = "query CacheProbe { genres { slug } }"
    await gql(query)
    before = (guard.measured, guard.validated)
    await gql(query)
    assert (guard.measured, guard.validated) == before


def test_request_ids_are_a_process_prefix_and_a_counter() -> None:
    from ncm.kit.observability import REQUEST_IDS, RequestIds

    first, second = REQUEST_IDS.next(), REQUEST_IDS.next()
    assert first != second
    assert first.rpartition("-")[0] == second.rpartition("-")[0] == REQUEST_IDS.prefix[:-1]
    assert int(second.rpartition("-")[2], 16) == int(first.rpartition("-")[2], 16) + 1
    other = RequestIds()  # another process (or a forked child: reset at fork)
    assert other.prefix != REQUEST_IDS.prefix and other.next().endswith("-1")


def test_json_log_lines_take_what_orjson_refuses() -> None:
    import json
    import logging

    from ncm.kit.observability import JsonFormatter

    record = logging.LogRecord("ncm.test", logging.INFO, __file__, 1, "odd %s", ("\ud800",), None)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "odd \ud800"


def test_metric_children_are_looked_up_once_and_bounded() -> None:
    from prometheus_client import CollectorRegistry, Counter

    from ncm.kit.observability import Children

    counter = Counter("t_requests", "t", ["route", "method"], registry=CollectorRegistry())
    children = Children(counter, bound=2)
    first = children("/a", "GET")
    assert children("/a", "GET") is first is counter.labels("/a", "GET")
    first.inc()
    children("/b", "GET").inc()
    children("/c", "TRACE").inc()  # past the bound: the cache starts again, the counts stay
    assert len(children.found) == 1
    assert children("/a", "GET") is first and first._value.get() == 1
