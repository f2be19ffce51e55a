from __future__ import annotations

import pytest

from tests import factories
from tests.conftest import GraphQLClient, count_queries, make_user

SEARCH = """query($q: String!, $types: [SearchType!], $first: Int, $after: String) {
  search(query: $q, types: $types, first: $first, after: $after) {
    edges { cursor node { __typename
      ... on Track { title } ... on Album { title } ... on Artist { name } ... on User { handle } } }
    pageInfo { hasNextPage endCursor } } }"""


def names(body: dict) -> list[tuple[str, str]]:
    out = []
    for edge in body["data"]["search"]["edges"]:
        node = edge["node"]
        out.append((node["__typename"], node.get("title") or node.get("name") or node["handle"]))
    return out


async def seed() -> None:
    jay = await factories.artist("周杰伦")
    yo = await factories.artist("YOASOBI")
    tay = await factories.artist("Taylor Swift")
    await factories.track("晴天", artists=[jay], play_count=1000)
    await factories.track("天晴了", artists=[jay])
    await factories.track("夜に駆ける", artists=[yo])
    await factories.track("Love Story", artists=[tay], play_count=50)
    await factories.track("Story of Us", artists=[tay], play_count=10)


async def test_two_character_chinese_query(gql: GraphQLClient) -> None:
    await seed()
    found = names(await gql(SEARCH, {"q": "晴天", "types": ["TRACK"]}))
    assert found == [("Track", "晴天")]  # 天晴了 has the characters, not the word


async def test_japanese_query(gql: GraphQLClient) -> None:
    await seed()
    assert names(await gql(SEARCH, {"q": "駆ける", "types": ["TRACK"]})) == [
        ("Track", "夜に駆ける")
    ]


async def test_latin_prefix_and_ranking(gql: GraphQLClient) -> None:
    await seed()
    found = names(await gql(SEARCH, {"q": "stor", "types": ["TRACK"]}))
    assert found == [("Track", "Love Story"), ("Track", "Story of Us")]
    exact = names(await gql(SEARCH, {"q": "story of us", "types": ["TRACK"]}))
    assert exact[0] == ("Track", "Story of Us")


async def test_artist_name_finds_tracks_and_the_artist(gql: GraphQLClient) -> None:
    await seed()
    found = names(await gql(SEARCH, {"q": "Taylor"}))
    assert ("Artist", "Taylor Swift") in found
    assert {("Track", "Love Story"), ("Track", "Story of Us")} <= set(found)


async def test_users_are_searchable(gql: GraphQLClient) -> None:
    await make_user("melody_fan", display_name="旋律爱好者")
    assert names(await gql(SEARCH, {"q": "爱好", "types": ["USER"]})) == [("User", "melody_fan")]
    assert names(await gql(SEARCH, {"q": "melod", "types": ["USER"]})) == [("User", "melody_fan")]


async def test_pagination_visits_every_hit_once(gql: GraphQLClient) -> None:
    a = await factories.artist("Echo")
    for i in range(7):
        await factories.track(f"Echo song {i}", artists=[a], play_count=i % 3)
    seen: list[tuple[str, str]] = []
    after = None
    while True:
        body = await gql(SEARCH, {"q": "echo", "first": 3, "after": after})
        seen += names(body)
        info = body["data"]["search"]["pageInfo"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert len(seen) == len(set(seen)) == 7 + 7 + 1  # tracks, their albums, the artist


async def test_empty_and_symbol_queries_return_nothing(gql: GraphQLClient) -> None:
    await seed()
    for q in ("", "   ", "!!!", "&|:*"):
        assert names(await gql(SEARCH, {"q": q})) == []


async def test_bad_input(gql: GraphQLClient) -> None:
    body = await gql(SEARCH, {"q": "x" * 101}, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    body = await gql(SEARCH, {"q": "love", "after": "bm9wZQ"}, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_search_query_count_is_constant(gql: GraphQLClient) -> None:
    a = await factories.artist("Constant Artist")
    for i in range(30):
        await factories.track(f"Constant {i}", artists=[a])
    counts = []
    for first in (1, 30):
        with count_queries() as counter:
            body = await gql(SEARCH, {"q": "constant", "types": ["TRACK"], "first": first})
        assert len(body["data"]["search"]["edges"]) == first
        counts.append(counter.count)
    assert counts[0] == counts[1] == 2, counts  # the match, the batch load


@pytest.mark.postgres_only
async def test_search_uses_the_gin_index() -> None:
    from tortoise.transactions import in_transaction

    # A tiny table is cheaper to scan; forbid that to see which index the planner can use.
    async with in_transaction() as conn:
        await conn.execute_script("SET LOCAL enable_seqscan = off")
        rows = await conn.execute_query_dict(
            "EXPLAIN SELECT id FROM tracks WHERE search_vector @@ to_tsquery('simple', $1)",
            ["晴天"],
        )
    plan = "\n".join(r["QUERY PLAN"] for r in rows)
    assert "tracks_search_idx" in plan, plan
