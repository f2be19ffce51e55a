"""The lean lane (``ncm.schema.lane``) answers exactly as Strawberry's view does: status,
body and headers, request by request, for what it serves and for what it hands back."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ncm.app import create_app
from ncm.config import get_settings
from ncm.schema.base import to_global_id
from ncm.schema.lane import LaneView
from ncm.schema.persisted import sha256_hex
from tests import factories
from tests.comments.helpers import user_and_token

TRACK = "query T($id: ID!) { track(id: $id) { id title artists { name } album { title } } }"
GENRES = "query G { genres { slug name } }"
PAGE = "query P($first: Int) { tracks(first: $first) { edges { node { title } } } }"
TWO = "query A { genres { slug } } query B { genres { name } }"
RESPONSE = "application/graphql-response+json"
HEADERS = ("content-type", "cache-control", "vary", "etag", "www-authenticate")

pytestmark = pytest.mark.skipif(
    not get_settings().fast_executor, reason="NCM_FAST_EXECUTOR=0 turns the lane off"
)


@pytest.fixture
async def long_way() -> AsyncIterator[httpx.AsyncClient]:
    """The application with Strawberry's view only (what NCM_FAST_EXECUTOR=0 serves)."""
    app = create_app(dataclasses.replace(get_settings(), fast_executor=False), manage_db=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
def lean_hits(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One entry per request the lane looked at: whether it answered it."""
    hits: list[bool] = []
    lean = LaneView.lean

    async def counted(self: LaneView, request: Any) -> Any:
        response = await lean(self, request)
        hits.append(response is not None)
        return response

    monkeypatch.setattr(LaneView, "lean", counted)
    return hits


def _get(query: str | None, variables: dict[str, Any] | None = None, **more: str) -> str:
    params = {**({"query": query} if query else {}), **more}
    if variables is not None:
        params["variables"] = json.dumps(variables)
    return "/graphql?" + httpx.QueryParams(params).__str__()


async def _same(
    lean: httpx.AsyncClient, long: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    # Twice each way: the second request of a document finds it validated in the guard's
    # cache, which is when the lane serves it.
    for _ in range(2):
        ours = await lean.request(method, url, **kwargs)
        theirs = await long.request(method, url, **kwargs)
        assert ours.status_code == theirs.status_code, (url, kwargs, ours.text, theirs.text)
        assert ours.content == theirs.content, (url, kwargs)
        for name in HEADERS:
            assert ours.headers.get(name) == theirs.headers.get(name), (name, url, kwargs)
    return ours


async def test_the_lane_answers_as_strawberry_does(
    http: httpx.AsyncClient, long_way: httpx.AsyncClient, lean_hits: list[bool]
) -> None:
    row = await factories.track("晴天")
    track = {"id": str(to_global_id("Track", row.id))}
    _, token = await user_and_token("lane")
    bearer = {"authorization": f"Bearer {token}"}
    served: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/graphql", {"json": {"query": TRACK, "variables": track}}),
        ("POST", "/graphql", {"json": {"query": TRACK, "variables": track}, "headers": bearer}),
        ("POST", "/graphql", {"json": {"query": GENRES}, "headers": {"accept": RESPONSE}}),
        ("POST", "/graphql", {"json": {"query": TWO, "operationName": "B"}}),
        # variables that do not coerce: a request error (400 without data in the new type)
        ("POST", "/graphql", {"json": {"query": PAGE, "variables": {"first": "x"}}}),
        (
            "POST",
            "/graphql",
            {"json": {"query": PAGE, "variables": {"first": "x"}}, "headers": {"accept": RESPONSE}},
        ),
        # an error from a resolver: a bad global id
        ("POST", "/graphql", {"json": {"query": TRACK, "variables": {"id": "nope"}}}),
        (
            "POST",
            "/graphql",
            {
                "content": json.dumps({"query": GENRES}),
                "headers": {"content-type": "application/json; charset=utf-8"},
            },
        ),
        ("GET", _get(TRACK, track), {}),
        ("GET", _get(TRACK, track), {"headers": bearer}),
        ("GET", _get(GENRES), {"headers": {"accept": RESPONSE}}),
    ]
    handed_back: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/graphql", {"json": [{"query": GENRES}]}),  # a batch
        (
            "POST",
            "/graphql",
            {"content": b"{nope", "headers": {"content-type": "application/json"}},
        ),
        ("POST", "/graphql", {"content": b"[]", "headers": {"content-type": "application/json"}}),
        (
            "POST",
            "/graphql",
            {"content": "query { genres { slug } }", "headers": {"content-type": "text/plain"}},
        ),
        ("POST", "/graphql", {"json": {"query": "{ genres { slug "}}),  # syntax error
        ("POST", "/graphql", {"json": {"query": "{ genres { nope } }"}}),  # invalid
        ("POST", "/graphql", {"json": {"query": TWO}}),  # which operation?
        ("POST", "/graphql", {"json": {"query": TWO, "operationName": "C"}}),
        ("POST", "/graphql", {"json": {"query": GENRES, "variables": []}}),
        ("POST", "/graphql", {"json": {"query": GENRES, "operationName": 3}}),
        ("POST", "/graphql", {"json": {"query": GENRES, "extensions": "x"}}),
        (
            "POST",
            "/graphql",
            {
                "content": '{"query": "{ genres { slug } }", "variables": {"s": "\\ud800"}}',
                "headers": {"content-type": "application/json"},
            },
        ),
        ("POST", "/graphql", {"json": {"query": GENRES}, "headers": {"authorization": "Bearer x"}}),
        ("POST", "/graphql", {"json": {"query": "subscription { __typename }"}}),
        ("GET", _get("mutation { __typename }"), {}),
        ("GET", "/graphql", {"headers": {"accept": "text/html"}}),
        (
            "POST",
            "/graphql",
            {"json": {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}}},
        ),
    ]
    for method, url, kwargs in served:
        lean_hits.clear()
        await _same(http, long_way, method, url, **kwargs)
        assert lean_hits == [False, True] or lean_hits == [True, True], (url, kwargs)
    for method, url, kwargs in handed_back:
        lean_hits.clear()
        await _same(http, long_way, method, url, **kwargs)
        assert lean_hits == [False, False], (url, kwargs)


async def test_persisted_queries_and_304_through_the_lane(
    http: httpx.AsyncClient, long_way: httpx.AsyncClient, lean_hits: list[bool]
) -> None:
    row = await factories.track("晴天")
    variables = {"id": str(to_global_id("Track", row.id))}
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(TRACK)}}
    body = {"query": TRACK, "variables": variables, "extensions": persisted}
    await _same(http, long_way, "POST", "/graphql", json=body)
    by_hash = {"variables": variables, "extensions": persisted}
    await _same(http, long_way, "POST", "/graphql", json=by_hash)
    url = "/graphql?" + str(
        httpx.QueryParams({"variables": json.dumps(variables), "extensions": json.dumps(persisted)})
    )
    lean_hits.clear()
    first = await _same(http, long_way, "GET", url)
    assert lean_hits == [True, True]
    assert first.headers["cache-control"].startswith("public")
    cached = await _same(
        http, long_way, "GET", url, headers={"if-none-match": first.headers["etag"]}
    )
    assert cached.status_code == 304
