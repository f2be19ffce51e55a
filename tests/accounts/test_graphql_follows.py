from __future__ import annotations

import asyncio

import pytest

from ncm.schema.base import to_global_id
from tests.conftest import GraphQLClient, count_queries, login_token, make_user

FOLLOW = """mutation($id: ID!) { followUser(userId: $id) { __typename
  ... on FollowPayload { user { followerCount followedByViewer } viewer { user { followingCount } } }
  ... on Error { code field } } }"""
UNFOLLOW = FOLLOW.replace("followUser", "unfollowUser")


async def test_follow_is_idempotent_and_counts_are_stored(gql: GraphQLClient) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    token = await login_token(alice)
    for _ in range(2):
        r = (await gql(FOLLOW, {"id": to_global_id("User", bob.id)}, token=token))["data"]
        assert r["followUser"]["user"] == {"followerCount": 1, "followedByViewer": True}
        assert r["followUser"]["viewer"]["user"]["followingCount"] == 1
    for _ in range(2):
        r = (await gql(UNFOLLOW, {"id": to_global_id("User", bob.id)}, token=token))["data"]
        assert r["unfollowUser"]["user"] == {"followerCount": 0, "followedByViewer": False}


async def test_cannot_follow_self_or_missing_user(gql: GraphQLClient) -> None:
    alice = await make_user("alice")
    token = await login_token(alice)
    me = (await gql(FOLLOW, {"id": to_global_id("User", alice.id)}, token=token))["data"]
    assert me["followUser"]["code"] == "SELF_FOLLOW"
    ghost = (await gql(FOLLOW, {"id": to_global_id("User", 999)}, token=token))["data"]
    assert ghost["followUser"]["__typename"] == "NotFoundError"
    wrong_type = (await gql(FOLLOW, {"id": to_global_id("Track", 1)}, token=token))["data"]
    assert wrong_type["followUser"]["code"] == "INVALID_ID"


async def test_follow_needs_login(gql: GraphQLClient) -> None:
    bob = await make_user("bob")
    body = await gql(FOLLOW, {"id": to_global_id("User", bob.id)}, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.postgres_only
async def test_concurrent_follows_count_once(gql: GraphQLClient) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    token = await login_token(alice)
    await asyncio.gather(
        *(gql(FOLLOW, {"id": to_global_id("User", bob.id)}, token=token) for _ in range(10))
    )
    await bob.refresh_from_db()
    await alice.refresh_from_db()
    assert (bob.follower_count, alice.following_count) == (1, 1)


FOLLOWERS = """query($id: ID!, $first: Int, $after: String) { user(id: $id) {
  followers(first: $first, after: $after) { edges { cursor node { handle followedByViewer } }
  pageInfo { hasNextPage endCursor } } } }"""


async def test_followers_connection_pages_with_constant_queries(gql: GraphQLClient) -> None:
    from ncm.accounts import service

    star = await make_user("star")
    fans = [await make_user(f"fan{i}") for i in range(7)]
    for fan in fans:
        await service.follow(fan, star.id)
    outsider = await make_user("outsider")
    viewer_token = await login_token(outsider)
    await service.follow(outsider, fans[6].id)
    seen: list[str] = []
    after = None
    counts = []
    while True:
        with count_queries() as counter:
            body = await gql(
                FOLLOWERS,
                {"id": to_global_id("User", star.id), "first": 3, "after": after},
                token=viewer_token,
            )
        counts.append(counter.count)
        conn = body["data"]["user"]["followers"]
        seen += [e["node"]["handle"] for e in conn["edges"]]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert seen == [f"fan{i}" for i in reversed(range(7))]
    assert len(set(counts)) == 1, counts
    with count_queries() as counter:
        body = await gql(
            FOLLOWERS, {"id": to_global_id("User", star.id), "first": 1}, token=viewer_token
        )
    assert counter.count == counts[0]
    edges = body["data"]["user"]["followers"]["edges"]
    assert edges[0]["node"] == {"handle": "fan6", "followedByViewer": True}


async def test_bad_cursor_and_page_size_are_input_errors(gql: GraphQLClient) -> None:
    star = await make_user("star")
    body = await gql(
        FOLLOWERS, {"id": to_global_id("User", star.id), "after": "!!"}, expect_errors=True
    )
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    body = await gql(
        FOLLOWERS, {"id": to_global_id("User", star.id), "first": 1000}, expect_errors=True
    )
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_lists_of_users_never_read_secrets(gql: GraphQLClient) -> None:
    """Users shown to others (followers, profiles) are read as public profiles: no password
    hash, email or role leaves the database for them."""
    from ncm.accounts import service

    star = await make_user("star", display_name="Star")
    fan = await make_user("fan")
    await service.follow(fan, star.id)
    query = """query($id: ID!) { user(id: $id) { handle displayName avatarUrl followerCount
      createdAt followers(first: 5) { edges { node { handle followingCount } } } } }"""
    with count_queries() as counter:
        body = await gql(query, {"id": to_global_id("User", star.id)})
    user = body["data"]["user"]
    assert (user["handle"], user["displayName"], user["followerCount"]) == ("star", "Star", 1)
    assert user["createdAt"].startswith(str(star.created_at.year))
    assert user["followers"]["edges"] == [{"node": {"handle": "fan", "followingCount": 1}}]
    users_reads = [q for q in counter.queries if "FROM users" in q]
    assert users_reads and not any(
        secret in q for q in users_reads for secret in ("password_hash", "email", "role")
    ), users_reads
