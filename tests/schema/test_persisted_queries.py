"""Persisted queries by hash, HTTP caching of public GET answers, and UTF-8 JSON."""

from __future__ import annotations

import json
from typing import Any

from ncm.schema.base import to_global_id
from ncm.schema.persisted import PersistedQueries, sha256_hex
from tests import factories
from tests.comments.helpers import user_and_token

TRACK = "query T($id: ID!) { track(id: $id) { id title artists { name } } }"
GRAPHQL_RESPONSE = "application/graphql-response+json"


def extensions(query: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(query)}}


def get_params(query: str, variables: dict[str, Any]) -> dict[str, str]:
    return {
        "operationName": "T",
        "variables": json.dumps(variables),
        "extensions": json.dumps(extensions(query)),
    }


async def a_track() -> dict[str, Any]:
    row = await factories.track("晴天")
    return {"id": str(to_global_id("Track", row.id))}


async def test_a_hash_alone_is_unknown_until_sent_with_its_text(http: Any) -> None:
    variables = await a_track()
    first = await http.post(
        "/graphql", json={"variables": variables, "extensions": extensions(TRACK)}
    )
    assert first.status_code == 200
    assert first.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert first.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    register = await http.post(
        "/graphql",
        json={"query": TRACK, "variables": variables, "extensions": extensions(TRACK)},
    )
    assert register.json()["data"]["track"]["title"] == "晴天"
    again = await http.post(
        "/graphql", json={"variables": variables, "extensions": extensions(TRACK)}
    )
    assert again.json() == register.json()
    refused = await http.post(
        "/graphql",
        json={"variables": variables, "extensions": extensions(TRACK)},
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert refused.status_code == 200  # known now
    unknown = await http.post(
        "/graphql",
        json={"extensions": extensions(TRACK + " ")},
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert unknown.status_code == 400
    assert "data" not in unknown.json()


async def test_a_hash_that_is_not_the_texts_or_malformed_is_400(http: Any) -> None:
    wrong = {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex("{ genres { slug } }")}}
    response = await http.post("/graphql", json={"query": TRACK, "extensions": wrong})
    assert response.status_code == 400
    assert "SHA-256" in response.text
    for bad in ({"version": 2, "sha256Hash": "0" * 64}, {"sha256Hash": "xyz"}, "abc"):
        response = await http.post(
            "/graphql", json={"query": TRACK, "extensions": {"persistedQuery": bad}}
        )
        assert response.status_code == 400, bad


async def test_a_public_get_by_hash_is_cacheable_with_an_etag_and_304(http: Any) -> None:
    variables = await a_track()
    await http.post(
        "/graphql",
        json={"query": TRACK, "variables": variables, "extensions": extensions(TRACK)},
    )
    response = await http.get("/graphql", params=get_params(TRACK, variables))
    assert response.status_code == 200, response.text
    assert response.json()["data"]["track"]["title"] == "晴天"
    assert response.headers["cache-control"] == "public, max-age=60"
    assert "Authorization" in response.headers["vary"]
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    same = await http.get("/graphql", params=get_params(TRACK, variables))
    assert same.headers["etag"] == etag
    cached = await http.get(
        "/graphql", params=get_params(TRACK, variables), headers={"if-none-match": f"W/{etag}"}
    )
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == etag
    stale = await http.get(
        "/graphql", params=get_params(TRACK, variables), headers={"if-none-match": '"other"'}
    )
    assert stale.status_code == 200
    # another media type is another representation: another tag
    other = await http.get(
        "/graphql", params=get_params(TRACK, variables), headers={"accept": GRAPHQL_RESPONSE}
    )
    assert other.headers["etag"] != etag


async def test_answers_with_credentials_errors_or_personal_fields_are_not_public(
    http: Any,
) -> None:
    variables = await a_track()
    _, token = await user_and_token("listener")
    authed = await http.get(
        "/graphql",
        params={"query": TRACK, "variables": json.dumps(variables)},
        headers={"authorization": f"Bearer {token}"},
    )
    assert authed.status_code == 200
    assert authed.headers["cache-control"] == "private, no-store"
    assert "etag" not in authed.headers
    failing = await http.get("/graphql", params={"query": "{ track(id: 1) { id } }"})
    assert failing.headers["cache-control"] == "private, no-store"
    playback = await http.get(
        "/graphql",
        params={
            "query": "query($id: ID!) { playback(trackId: $id) { __typename } }",
            "variables": json.dumps({"id": variables["id"]}),
        },
    )
    assert playback.status_code == 200, playback.text
    assert playback.headers["cache-control"] == "private, no-store"
    posted = await http.post("/graphql", json={"query": TRACK, "variables": variables})
    assert "cache-control" not in posted.headers


async def test_json_is_utf8_without_escapes(http: Any) -> None:
    variables = await a_track()
    response = await http.post("/graphql", json={"query": TRACK, "variables": variables})
    assert "晴天".encode() in response.content
    assert b"\\u" not in response.content
    assert response.headers["content-type"] == "application/json; charset=utf-8"


def test_the_store_keeps_the_most_recent_documents() -> None:
    store = PersistedQueries(size=2)
    texts = ["{ a }", "{ b }", "{ c }"]
    for text in texts:
        assert store.resolve(sha256_hex(text), text) == text
    assert store.resolve(sha256_hex(texts[0]), None) is None
    assert store.resolve(sha256_hex(texts[2]), None) == texts[2]
