"""Whatever a client sends, the answer is a clear error (400, or a typed GraphQL error), never
an internal error; found by fuzzing every operation of the schema."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ncm.accounts.models import Role
from ncm.comments import moderation, service
from ncm.playlists.models import Playlist
from tests.comments.helpers import comment_gid, track_ref, user_and_token
from tests.conftest import GraphQLClient, login_token, make_user

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    "body",
    [
        b"null",
        b"42",
        b'"q"',
        b'{"query": "{ genres { slug } } #\xff"}',
        b'{"query": "{ genres { slug } }", "variables": {"x": '
        + b'{"a":' * 5000
        + b"1"
        + b"}" * 5001,
        b'{"query": "{ genres { slug } }", "variables": {"x": ' + b"9" * 5000 + b"}}",
        b'{"query": "{ genres { slug } }", "operationName": "\\ud800"}',
        b'{"query": "{ genres { slug } }", "operationName": 5}',
        b'{"query": "query($q: String!) { search(query: $q) { edges { cursor } } }",'
        b' "variables": {"q": "x\\udfffy"}}',
    ],
    ids=[
        "null",
        "number",
        "string",
        "bad-utf8",
        "deep",
        "huge-int",
        "surrogate-name",
        "name-not-text",
        "surrogate-variable",
    ],
)
async def test_malformed_bodies_are_400(http: Any, body: bytes) -> None:
    response = await http.post("/graphql", content=body, headers=JSON)
    assert response.status_code == 400, response.text


async def test_a_subscription_over_http_is_400(http: Any) -> None:
    query = 'subscription { commentAdded(threadId: "Q29tbWVudFRocmVhZDoxMjk=") { id } }'
    for response in (
        await http.post("/graphql", json={"query": query}),
        await http.get("/graphql", params={"query": query}),
    ):
        assert response.status_code == 400 and "websocket" in response.text


async def test_nul_characters_are_removed_from_variables_and_refused_in_literals(
    gql: GraphQLClient,
) -> None:
    token = await login_token(await make_user("alice"))
    create = """mutation($i: CreatePlaylistInput!) { createPlaylist(input: $i) { __typename
      ... on PlaylistPayload { playlist { title tags } } } }"""
    body = await gql(create, {"i": {"title": "Mi\u0000x", "tags": ["a\u0000b"]}}, token=token)
    assert body["data"]["createPlaylist"]["playlist"] == {"title": "Mix", "tags": ["ab"]}
    assert await Playlist.filter(title="Mix").exists()
    literal = await gql('{ search(query: "a\\u0000b") { edges { cursor } } }', expect_errors=True)
    assert literal["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_overlong_lookups_are_ordinary_misses(gql: GraphQLClient) -> None:
    login = """mutation($i: String!) { login(input: {identifier: $i, password: "whatever-1"}) {
      __typename ... on Error { code } } }"""
    for identifier in ("a" * 33, "😀" * 50, "a@" + "b" * 400):
        body = await gql(login, {"i": identifier})
        assert body["data"]["login"] == {
            "__typename": "BadCredentialsError",
            "code": "BAD_CREDENTIALS",
        }
    genre = await gql(
        '{ tracks(genre: "' + "a" * 65 + '") { edges { cursor } } }', expect_errors=True
    )
    assert genre["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_too_many_tags_fail_at_once(gql: GraphQLClient) -> None:
    token = await login_token(await make_user("alice"))
    create = """mutation($i: CreatePlaylistInput!) { createPlaylist(input: $i) { __typename
      ... on Error { code field } } }"""
    tags = [f"t{i}" for i in range(16_000)]
    body = await gql(create, {"i": {"title": "x", "tags": tags}}, token=token)
    assert body["data"]["createPlaylist"] == {
        "__typename": "InvalidInputError",
        "code": "INVALID_INPUT",
        "field": "tags",
    }
    assert not await Playlist.exists()


@pytest.mark.parametrize("raw", ["Track: 1", "Track:1_0", "Track:\u0663", "Track:+1", "Track:032"])
async def test_an_id_has_one_spelling(gql: GraphQLClient, raw: str) -> None:
    forged = base64.urlsafe_b64encode(raw.encode()).decode()
    body = await gql(
        "query($id: ID!) { track(id: $id) { id } }", {"id": forged}, expect_errors=True
    )
    assert body["errors"][0]["extensions"]["code"] == "INVALID_ID"


EDIT = """mutation($c: ID!, $b: String!) { editComment(commentId: $c, body: $b) { __typename
  ... on CommentPayload { comment { body } } ... on Error { code } } }"""


async def test_a_banned_author_cannot_edit_nor_anyone_a_hidden_comment(
    gql: GraphQLClient,
) -> None:
    ref = await track_ref()
    author, token = await user_and_token("bob")
    mod, _ = await user_and_token("mod", role=Role.MODERATOR)
    first = await service.post_comment(author, ref, "first")
    second = await service.post_comment(author, ref, "second")
    await moderation.hide(mod, second.id, "spam")
    hidden = await gql(EDIT, {"c": comment_gid(second), "b": "edited"}, token=token)
    assert hidden["data"]["editComment"] == {
        "__typename": "ConflictError",
        "code": "COMMENT_HIDDEN",
    }
    await moderation.ban(mod, author.id, 3, "spam")
    banned = await gql(EDIT, {"c": comment_gid(first), "b": "BUY NOW"}, token=token)
    assert banned["data"]["editComment"] == {
        "__typename": "CommentBannedError",
        "code": "COMMENT_BANNED",
    }
    await first.refresh_from_db()
    assert first.body == "first"
