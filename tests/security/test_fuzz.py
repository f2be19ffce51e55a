"""Hypothesis fuzzers over the GraphQL schema, ``/stream`` and ``/webhooks/stripe``: whatever
arrives, the answer is never a 5xx and never carries a traceback.

The GraphQL fuzzer draws documents from the schema itself (real fields, arguments of every
type, aliases, fragments, nesting past the limits, Unicode) plus raw text and hostile
variables. CI runs a short budget (``NCM_FUZZ_EXAMPLES``, default 40 per fuzzer: a few
seconds); raise it locally for a long run, e.g. ``NCM_FUZZ_EXAMPLES=2000``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    get_named_type,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ncm.config import get_settings
from ncm.schema.schema import get_schema

EXAMPLES = int(os.environ.get("NCM_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SCHEMA = get_schema(False)._schema

text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40
) | st.sampled_from(["", "\x00", "晴天", "😀" * 20, "a" * 300, "' OR 1=1 --", "%00", "\u202e"])
json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
json_values = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=30,
)


def literal(type_: Any, draw: Any, depth: int = 0) -> str:
    """A GraphQL literal for an input type: usually of the right shape, sometimes not."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(["null", "1", '"x"', "true", "[]", "{}", "BEST", "1e999"]))
    if isinstance(type_, GraphQLNonNull):
        return literal(type_.of_type, draw, depth)
    if isinstance(type_, GraphQLList):
        items = draw(st.integers(0, 3))
        return "[" + ", ".join(literal(type_.of_type, draw, depth + 1) for _ in range(items)) + "]"
    if isinstance(type_, GraphQLEnumType):
        return draw(st.sampled_from(list(type_.values)))
    if isinstance(type_, GraphQLInputObjectType):
        if depth > 3:
            return "{}"
        fields = draw(st.lists(st.sampled_from(list(type_.fields)), max_size=4, unique=True))
        body = ", ".join(f"{f}: {literal(type_.fields[f].type, draw, depth + 1)}" for f in fields)
        return "{" + body + "}"
    name = type_.name if isinstance(type_, GraphQLScalarType) else "String"
    if name in ("Int", "Float"):
        return str(draw(st.integers(min_value=-(2**40), max_value=2**40)))
    if name == "Boolean":
        return draw(st.sampled_from(["true", "false"]))
    return json.dumps(draw(text))


@st.composite
def selection(draw: Any, type_: GraphQLObjectType, depth: int) -> str:
    names = list(type_.fields)
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=4))
    parts = []
    for name in chosen:
        field = type_.fields[name]
        alias = f"a{draw(st.integers(0, 99))}: " if draw(st.integers(0, 4)) == 0 else ""
        args = [
            a
            for a in field.args
            if draw(st.booleans()) or isinstance(field.args[a].type, GraphQLNonNull)
        ]
        arg_text = ""
        if args:
            arg_text = (
                "(" + ", ".join(f"{a}: {literal(field.args[a].type, draw)}" for a in args) + ")"
            )
        inner = get_named_type(field.type)
        sub = ""
        if hasattr(inner, "fields"):
            if isinstance(inner, GraphQLObjectType) and depth < 14:
                sub = " { " + draw(selection(inner, depth + 1)) + " }"
            else:
                sub = " { __typename }"
        elif hasattr(inner, "types"):  # a union
            options = list(inner.types)  # type: ignore[attr-defined]
            member = draw(st.sampled_from(options))
            sub = (
                " { __typename ... on "
                + member.name
                + " { "
                + draw(selection(member, depth + 1))
                + " } }"
            )
        parts.append(f"{alias}{name}{arg_text}{sub}")
    if draw(st.integers(0, 6)) == 0:
        parts.append(draw(st.sampled_from(["nope", "__schema { types { name } }", "...F"])))
    return " ".join(parts)


@st.composite
def documents(draw: Any) -> str:
    kind = draw(st.sampled_from(["query", "mutation", "raw", "fragments"]))
    if kind == "raw":
        return draw(
            st.text(max_size=200) | st.sampled_from(["{", "}", "{ a { b { c", "query($", "#"])
        )
    root = SCHEMA.mutation_type if kind == "mutation" else SCHEMA.query_type
    assert root is not None
    body = draw(selection(root, 0))
    keyword = "mutation" if kind == "mutation" else "query"
    if kind == "fragments":
        n = draw(st.integers(1, 30))
        spreads = " ".join(
            f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(n)
        )
        return f"query {{ ...F0 }} {spreads} fragment F{n} on Query {{ {body} }}"
    return f"{keyword} {{ {body} }}"


def assert_sound(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text[:500]
    assert "Traceback" not in response.text and 'File "' not in response.text


@FUZZ
@given(document=documents(), variables=st.none() | st.dictionaries(text, json_values, max_size=3))
async def test_graphql_fuzz(http: httpx.AsyncClient, document: str, variables: Any) -> None:
    body = {"query": document, "variables": variables}
    response = await http.post("/graphql", json=body)
    assert_sound(response)
    if response.status_code == 200:
        result = response.json()
        for error in result.get("errors", []):
            assert error["extensions"]["code"] != "INTERNAL_SERVER_ERROR", (document, error)


@FUZZ
@given(
    raw=st.binary(max_size=300)
    | st.builds(lambda v: json.dumps(v).encode(), json_values)
    | st.builds(
        lambda d, n: json.dumps({"query": d, "variables": {"a": n}}).encode(),
        documents(),
        st.integers(0, 200).map(
            lambda depth: json.loads("[" * depth + "]" * depth) if depth else 1
        ),
    ),
    content_type=st.sampled_from(["application/json", "text/plain", "application/graphql", ""]),
    accept=st.sampled_from(["", "*/*", "application/graphql-response+json", "text/html"]),
    authorization=st.sampled_from(["", "Bearer x", "Bearer", "Basic a", "Bearer \u00e9"]),
)
async def test_http_body_fuzz(
    http: httpx.AsyncClient, raw: bytes, content_type: str, accept: str, authorization: str
) -> None:
    headers: dict[str, Any] = {"content-type": content_type, "accept": accept}
    if authorization:
        headers["authorization"] = authorization.encode("latin-1")  # raw bytes on the wire
    assert_sound(await http.post("/graphql", content=raw, headers=headers))


@FUZZ
@given(
    track=st.integers(-5, 2**70),
    rendition=st.integers(0, 2**64),
    path=st.text(max_size=30).map(lambda p: p.replace("?", "").replace("#", "")),
    query=st.dictionaries(st.sampled_from(["e", "u", "k", "s", "r", "q", "x"]), text, max_size=6),
    range_=st.none()
    | text
    | st.sampled_from(["bytes=0-", "bytes=-1", "bytes=5-1", "bytes=0-99999999999999999999"]),
)
async def test_stream_fuzz(
    http: httpx.AsyncClient,
    track: int,
    rendition: int,
    path: str,
    query: dict[str, str],
    range_: str | None,
) -> None:
    headers = {"range": range_.encode("utf-8")} if range_ else {}
    url = f"/stream/{track}/{rendition}/{path}"
    try:
        response = await http.get(url, params=query, headers=headers)
    except httpx.InvalidURL:  # not even sendable
        return
    assert_sound(response)


SECRET = "whsec_fuzz_secret"


def _sign(payload: bytes) -> str:
    t = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


@contextlib.asynccontextmanager
async def client_with(**changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the application made with these settings changed."""
    from ncm.app import create_app

    settings = dataclasses.replace(get_settings(), **changes)
    transport = httpx.ASGITransport(app=create_app(settings, manage_db=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
async def webhook_http() -> AsyncIterator[httpx.AsyncClient]:
    """The app with a webhook secret, so signed payloads reach the event handling."""
    async with client_with(stripe_webhook_secret=SECRET) as client:
        yield client


@FUZZ
@given(
    payload=st.binary(max_size=200)
    | st.builds(lambda v: json.dumps(v).encode(), json_values)
    | st.builds(
        lambda i, t, d: json.dumps({"id": i, "type": t, "data": d}).encode(),
        st.none() | text | st.integers(),
        st.none() | text | st.sampled_from(["invoice.paid", "charge.refunded"]),
        json_values,
    ),
    signed=st.booleans(),
    header=st.sampled_from(["", "t=1,v1=0", "garbage", "t=x,v1=\u00e9", "v1="]),
)
async def test_webhook_fuzz(
    webhook_http: httpx.AsyncClient, payload: bytes, signed: bool, header: str
) -> None:
    signature = _sign(payload) if signed else header
    headers = {"stripe-signature": signature.encode("latin-1")} if signature else {}
    assert_sound(await webhook_http.post("/webhooks/stripe", content=payload, headers=headers))


async def test_signed_events_with_unstorable_ids_are_400(webhook_http: httpx.AsyncClient) -> None:
    """Found by ``test_webhook_fuzz``: an event id holding NUL reached PostgreSQL (500)."""
    for event in ({"id": "\u0000", "type": "x"}, {"id": "evt_1", "type": "a\u0000"}):
        payload = json.dumps(event).encode()
        response = await webhook_http.post(
            "/webhooks/stripe", content=payload, headers={"stripe-signature": _sign(payload)}
        )
        assert response.status_code == 400, response.text
