"""Forged ids and cursors are input errors, never database errors or degraded service."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from ncm.comments.models import TargetType
from ncm.comments.targets import ThreadRef
from tests import factories
from tests.conftest import GraphQLClient, login_token, make_user

HUGE = 10**23  # past BIGINT


def forged(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode()


@pytest.mark.parametrize("pk", [HUGE, 2**63, 0, -5])
async def test_ids_out_of_range_are_invalid_ids(gql: GraphQLClient, pk: int) -> None:
    lookups = {
        "user": ("User", "query($id: ID!) { user(id: $id) { id } }"),
        "node": ("Track", "query($id: ID!) { node(id: $id) { id } }"),
        "track": ("Track", "query($id: ID!) { track(id: $id) { id } }"),
        "playlist": ("Playlist", "query($id: ID!) { playlist(id: $id) { id } }"),
        "comment": ("Comment", "query($id: ID!) { comment(id: $id) { id } }"),
        "commentThread": ("Track", "query($id: ID!) { commentThread(targetId: $id) { id } }"),
    }
    for name, (kind, query) in lookups.items():
        body = await gql(query, {"id": forged(kind, pk)}, expect_errors=True)
        assert body["errors"][0]["extensions"]["code"] == "INVALID_ID", (name, body)


async def test_a_forged_track_id_does_not_degrade_playback_for_others(
    gql: GraphQLClient,
) -> None:
    query = """query($t: ID!) { playback(trackId: $t) { __typename
      ... on PlaybackDenial { code } } }"""
    forged_body = await gql(query, {"t": forged("Track", HUGE)}, expect_errors=True)
    assert forged_body["errors"][0]["extensions"]["code"] == "INVALID_ID"
    track = await factories.track("Song")
    token = await login_token(await make_user("alice"))
    body = await gql(query, {"t": forged("Track", track.id)}, token=token)
    assert body["data"]["playback"]["__typename"] != "ServiceDegraded", body


@pytest.mark.parametrize(
    "key",
    [[HUGE, 1], [1.5e308 * 10, 1], [{"a": 1}, 1], ["x" * 500, 1], [1, [HUGE]]],
    ids=["huge-int", "infinite-float", "object", "long-string", "nested-huge"],
)
async def test_forged_cursors_are_invalid_input(gql: GraphQLClient, key: list[Any]) -> None:
    track = await factories.track("Song")
    cursor = base64.urlsafe_b64encode(json.dumps(key).encode()).decode()
    query = """query($t: ID!, $a: String) { comments(threadId: $t, order: NEWEST, after: $a) {
      edges { cursor } } }"""
    thread = forged("CommentThread", ThreadRef(TargetType.TRACK, track.id).key)
    body = await gql(query, {"t": thread, "a": cursor}, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT", body
