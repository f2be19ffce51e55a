"""Bad input is always a 4xx with a reason: deep variables, several operations without a
name, bad tokens (never anonymous), the GraphQL-over-HTTP media type, no suggestions in
production, the validation budget, and the same over the websocket."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from ncm.config import get_settings, reset_settings
from tests.conftest import login_token, make_user

GRAPHQL_RESPONSE = "application/graphql-response+json"


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("declared", [True, False])
async def test_deep_variables_are_400_not_500(http: httpx.AsyncClient, declared: bool) -> None:
    query = "query($a: [Int]) { genres { slug } }" if declared else "{ genres { slug } }"
    r = await http.post("/graphql", json={"query": query, "variables": {"a": nested(500)}})
    assert r.status_code == 400 and "nest more than 32 levels" in r.text
    assert "Traceback" not in r.text
    deep_object: Any = {}
    for _ in range(40):
        deep_object = {"k": deep_object}
    r = await http.post("/graphql", json={"query": query, "variables": {"a": deep_object}})
    assert r.status_code == 400


async def test_variables_within_the_depth_limit_are_cleaned(http: httpx.AsyncClient) -> None:
    from ncm.schema.view import _clean

    value = {"a\x00": [{"b": "x\x00y"}, [["z"]]], "n": None}
    assert _clean(value) == {"a": [{"b": "xy"}, [["z"]]], "n": None}
    assert _clean(nested(31)) == nested(31)
    r = await http.post(
        "/graphql", json={"query": "{ genres { slug } }", "variables": {"a": nested(30)}}
    )
    assert r.status_code == 200 and r.json() == {"data": {"genres": []}}


def test_clean_takes_the_same_decisions_on_its_fast_path_and_its_walk() -> None:
    """Values with nothing to clean come back as they are (orjson's check); the others, and
    unpaired surrogates, take the walk; depth is refused on both paths at the same level."""
    from ncm.schema.view import MAX_VARIABLE_DEPTH, BadOperation, TooDeep, _clean, _walk

    clean = {"e": [{"id": f"ev-{i}", "at": "2026-12-03T10:00:00Z", "n": i} for i in range(50)]}
    assert _clean(clean) is clean and _walk(clean) == clean
    for depth in (MAX_VARIABLE_DEPTH - 1, MAX_VARIABLE_DEPTH, MAX_VARIABLE_DEPTH + 1, 300):
        for inner in ("x", "x\x00"):
            value = {"a": nested(depth - 1)} if inner == "x" else {"a": [inner, nested(depth - 2)]}
            outcomes = []
            for clean_it in (_clean, _walk):
                try:
                    outcomes.append(clean_it(value))
                except TooDeep:
                    outcomes.append("too deep")
            assert outcomes[0] == outcomes[1], (depth, inner)
            assert (outcomes[0] == "too deep") == (depth > MAX_VARIABLE_DEPTH)
    for bad in ({"a": ["ok", "\ud800"]}, {"\udfff": 1}):
        with pytest.raises(BadOperation):
            _clean(bad)
    assert _clean({"k\x00": ["a\x00b", 2**70]}) == {"k": ["ab", 2**70]}


async def test_several_operations_need_an_operation_name(http: httpx.AsyncClient) -> None:
    document = "query A { genres { slug } } query B { __typename }"
    for _ in range(2):
        r = await http.post("/graphql", json={"query": document})
        assert r.status_code == 400, r.text
        assert r.json()["errors"][0]["extensions"]["code"] == "OPERATION_NAME_REQUIRED"
    r = await http.post("/graphql", json={"query": document, "operationName": "B"})
    assert r.status_code == 200 and r.json() == {"data": {"__typename": "Query"}}
    r = await http.post("/graphql", json={"query": document, "operationName": "C"})
    assert r.status_code == 400


@pytest.fixture
async def token() -> str:
    return await login_token(await make_user("tess"))


async def _bad_tokens(token: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    from ncm.accounts import revocation, tokens

    user = await make_user("oldie")
    real = tokens.time.time
    monkeypatch.setattr(tokens.time, "time", lambda: real() - 3600)
    expired, _ = tokens.issue_access_token(user.id, 1)
    monkeypatch.setattr(tokens.time, "time", real)
    claims = tokens.read_access_token(token)
    assert claims is not None
    await revocation.revoke([claims.session_id])
    return {"forged": "garbage", "expired": expired, "revoked": token, "not-bearer": ""}


async def test_a_bad_token_is_unauthenticated_on_every_request(
    http: httpx.AsyncClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = await _bad_tokens(token, monkeypatch)
    queries = ["{ genres { slug } }", '{ search(query: "x") { edges { cursor } } }', "{ nope"]
    for name, value in bad.items():
        auth = f"Bearer {value}" if value else "Basic abc"
        for query in queries:
            r = await http.post("/graphql", json={"query": query}, headers={"authorization": auth})
            assert r.status_code == 200, (name, r.text)
            errors = r.json()["errors"]
            assert [e["extensions"]["code"] for e in errors] == ["UNAUTHENTICATED"], name
            assert r.json()["data"] is None
            assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        r = await http.post(
            "/graphql",
            json={"query": queries[0]},
            headers={"authorization": auth, "accept": GRAPHQL_RESPONSE},
        )
        assert r.status_code == 401 and "data" not in r.json()
    # GET too
    r = await http.get(
        "/graphql", params={"query": queries[0]}, headers={"authorization": "Bearer x"}
    )
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_graphql_response_media_type_status_codes(http: httpx.AsyncClient) -> None:
    accept = {"accept": f"{GRAPHQL_RESPONSE}, application/json;q=0.9"}

    async def post(query: str, variables: Any = None, **headers: str) -> httpx.Response:
        return await http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers or accept
        )

    ok = await post("{ genres { slug } }")
    assert ok.status_code == 200 and ok.json() == {"data": {"genres": []}}
    assert ok.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    for failing in (
        await post("{ genres { "),  # parse
        await post("{ genres { nope } }"),  # validation
        await post("query($n: Int!) { tracks(first: $n) { edges { cursor } } }", {"n": "x"}),
        await post("query($n: Int!) { tracks(first: $n) { edges { cursor } } }"),  # missing
    ):
        assert failing.status_code == 400, failing.text
        assert "data" not in failing.json() and failing.json()["errors"]
    # A field error during execution is still 200 with data.
    r = await post('{ track(id: "%%") { id } }')
    assert r.status_code == 200 and "data" in r.json()
    # application/json keeps its status 200 and "data": null for the same failures.
    legacy = await post("{ genres { nope } }", accept="application/json")
    assert legacy.status_code == 200 and legacy.json()["data"] is None
    assert legacy.headers["content-type"].startswith("application/json")
    for header in ("", "*/*", "application/json", f"{GRAPHQL_RESPONSE};q=0.5, application/json"):
        r = await post("{ __typename }", accept=header)
        assert r.headers["content-type"].startswith("application/json"), header


def test_negotiation() -> None:
    from ncm.schema.view import GRAPHQL_RESPONSE as OURS
    from ncm.schema.view import negotiate

    assert negotiate(None) == "application/json"
    assert negotiate(OURS) == OURS
    assert negotiate(f"application/json, {OURS}") == OURS
    assert negotiate(f"{OURS};q=0") == "application/json"
    assert negotiate(f"{OURS};q=abc, application/json") == "application/json"


@pytest.fixture
async def prod_http() -> AsyncIterator[httpx.AsyncClient]:
    from ncm.app import create_app
    from ncm.schema.schema import get_schema

    settings = dataclasses.replace(
        get_settings(),
        production=True,
        stripe_api_base=None,
        secret_key="s" * 40,
        stream_signing_keys={"k9": "x" * 40},
        argon2_time_cost=3,
        argon2_memory_kib=65536,
    )
    transport = httpx.ASGITransport(app=create_app(settings, manage_db=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client
    get_schema.cache_clear()


SUGGESTING = [
    ("{ viewr { email } }", None),
    ("{ genres { slugg } }", None),
    ('{ track(idd: "x") { id } }', None),
    ("query($q: PlaybackQuality!) { __typename }", None),
    (
        'query($q: PlaybackQuality!) { playback(trackId: "VHJhY2s6MQ", quality: $q) {'
        " __typename } }",
        {"q": "BESTT"},
    ),
]


async def test_no_suggestions_in_production(
    prod_http: httpx.AsyncClient, http: httpx.AsyncClient
) -> None:
    suggested = 0
    for query, variables in SUGGESTING:
        body = {"query": query, "variables": variables}
        prod = (await prod_http.post("/graphql", json=body)).text
        assert "Did you mean" not in prod and "errors" in prod, query
        suggested += "Did you mean" in (await http.post("/graphql", json=body)).text
    assert suggested >= 3  # development still helps


async def test_validation_runs_under_a_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from ncm.schema.schema import build_schema

    monkeypatch.setenv("NCM_GRAPHQL_VALIDATION_BUDGET_MS", "0")
    reset_settings()
    try:
        schema = build_schema(production=False)
    finally:
        monkeypatch.undo()
        reset_settings()
    query = "{ " + " ".join(f"a{i}: genres {{ slug }}" for i in range(10)) + " }"
    for _ in range(2):  # a refusal by the clock is not cached, and nothing ran
        result = await schema.execute(query)
        assert result.data is None and result.errors
        assert result.errors[0].extensions["code"] == "VALIDATION_BUDGET_EXCEEDED"
    assert schema.guard.validated == 2  # type: ignore[attr-defined]


def _ws(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send these graphql-transport-ws messages after connection_init; the replies."""
    from ncm.app import create_app

    client = TestClient(create_app(manage_db=False))
    replies = []
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_text(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(ws.receive_text())["type"] == "connection_ack"
        for message in messages:
            ws.send_text(json.dumps(message))
            replies.append(json.loads(ws.receive_text()))
        ws.send_text(json.dumps({"type": "ping"}))
        assert json.loads(ws.receive_text())["type"] == "pong"  # still open
    return replies


def test_websocket_syntax_errors_and_deep_variables_get_an_error_message() -> None:
    replies = _ws(
        [
            {"id": "1", "type": "subscribe", "payload": {"query": "subscription { nope"}},
            {
                "id": "2",
                "type": "subscribe",
                "payload": {"query": "{ __typename }", "variables": {"a": nested(500)}},
            },
            {"id": "3", "type": "subscribe", "payload": {"query": "{ genres { nope } }"}},
        ]
    )
    assert [(r["type"], r["id"]) for r in replies] == [
        ("error", "1"),
        ("error", "2"),
        ("error", "3"),
    ]
    assert "Syntax Error" in replies[0]["payload"][0]["message"]
    assert "nest more than 32 levels" in replies[1]["payload"][0]["message"]
