from __future__ import annotations

import pytest

from ncm.search.maintenance import refresh as refresh_tiers
from tests import factories
from tests.conftest import GraphQLClient, count_queries, make_user

SEARCH = """query($q: String!, $types: [SearchType!], $first: Int, $after: String) {
  search(query: $q, types: $types, first: $first, after: $after) {
    edges { cursor node { __typename
      ... on Track { title } ... on Album { title } ... on Artist { name } ... on User { handle } } }
    pageInfo { hasNextPage endCursor } } }"""


def wide(text: str) -> str:
    """Full-width forms of ASCII letters (as a Chinese or Japanese keyboard types them)."""
    return "".join(chr(ord(c) + 0xFEE0) if c != " " else c for c in text)


FULL_WIDTH_SONG = wide("Full Width") + " Song"


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
    await refresh_tiers()


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
    # A title that starts with the query beats a more played one that contains it.
    assert found == [("Track", "Story of Us"), ("Track", "Love Story")]
    found = names(await gql(SEARCH, {"q": "love", "types": ["TRACK"]}))
    assert found == [("Track", "Love Story")]
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
    # The match (one statement for every type and tier), the batch load.
    assert counts[0] == counts[1] == 2, counts


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


async def test_exact_artist_name_comes_first(gql: GraphQLClient) -> None:
    await seed()
    dex = await factories.artist("Dex Marlow")
    other = await factories.artist("Someone")
    await factories.track("Index of Dexterity", artists=[other], play_count=10_000)
    await factories.track("周杰伦的歌", artists=[other], play_count=10_000)
    await refresh_tiers()
    assert names(await gql(SEARCH, {"q": "周杰伦"}))[0] == ("Artist", "周杰伦")
    assert names(await gql(SEARCH, {"q": "Dex"}))[0] == ("Artist", dex.name)
    assert names(await gql(SEARCH, {"q": "dex marlow"}))[0] == ("Artist", "Dex Marlow")


async def test_traditional_full_width_and_simplified_find_the_same_rows(
    gql: GraphQLClient,
) -> None:
    await seed()
    await factories.artist("張學友")  # stored in traditional characters
    await factories.track(FULL_WIDTH_SONG, play_count=1)
    await refresh_tiers()
    simplified = names(await gql(SEARCH, {"q": "周杰伦"}))
    assert simplified and names(await gql(SEARCH, {"q": "周杰倫"})) == simplified
    assert names(await gql(SEARCH, {"q": "张学友"}))[0] == ("Artist", "張學友")
    assert ("Track", FULL_WIDTH_SONG) in names(await gql(SEARCH, {"q": "full width"}))
    assert ("Track", FULL_WIDTH_SONG) in names(await gql(SEARCH, {"q": wide("full")}))


async def test_typed_results_keep_the_order(gql: GraphQLClient) -> None:
    await seed()
    assert names(await gql(SEARCH, {"q": "周杰伦", "types": ["TRACK"]})) == [
        ("Track", "晴天"),
        ("Track", "天晴了"),
    ]
    assert names(await gql(SEARCH, {"q": "周杰伦", "types": ["ARTIST"]})) == [("Artist", "周杰伦")]


@pytest.mark.postgres_only
async def test_a_page_filled_by_the_popular_tier_reads_no_other_tier() -> None:
    from tortoise import connections

    from ncm.search import service

    a = await factories.artist("Tiered")
    for i in range(6):
        await factories.track(f"Common word {i}", artists=[a], play_count=100 + i)
    for i in range(6):
        await factories.track(f"Common rare {i}", artists=[a], play_count=0)
    await refresh_tiers((6, 8, 10, 12))
    # Capture the statement the service sends, then ask PostgreSQL how it ran.
    with count_queries() as counter:
        page = await service.search("common", [service.SearchType.TRACK], 5, None)
    assert [h.id for h in page.items] and len(page.items) == 5
    [sql] = counter.queries
    assert all(h.score > 0.004 for h in page.items)  # only the popular rows (ln(101)/1000)
    words = ["common:*", ["common"], "common%"]
    rows = await connections.get("default").execute_query_dict(
        f"EXPLAIN (ANALYZE, COSTS OFF) {sql}", words
    )
    plan = "\n".join(r["QUERY PLAN"] for r in rows)
    # The branches of tiers 1-2, 1-3, 1-4 and every row are closed by their one-time filters.
    assert plan.count("never executed") >= 4, plan
    # A page tier 1 cannot fill widens, and still finds every match in order.
    page = await service.search("common", [service.SearchType.TRACK], 12, None)
    assert len(page.items) == 12


async def test_new_rows_are_found_before_any_tier_refresh(gql: GraphQLClient) -> None:
    await factories.track("Brand New Single", play_count=0)
    assert names(await gql(SEARCH, {"q": "brand new single"})) == [("Track", "Brand New Single")]


SUGGEST = """query($p: String!, $first: Int) {
  searchSuggestions(prefix: $p, first: $first) { text type id } }"""


async def test_suggestions_offer_popular_names_by_prefix(gql: GraphQLClient) -> None:
    await seed()
    await factories.artist("Taylor Made")
    await refresh_tiers()
    found = (await gql(SUGGEST, {"p": "tay"}))["data"]["searchSuggestions"]
    assert {(s["type"], s["text"]) for s in found} == {
        ("ARTIST", "Taylor Swift"),
        ("ARTIST", "Taylor Made"),
    }
    # A later word of a name, traditional for simplified, and a node id the API can open.
    found = (await gql(SUGGEST, {"p": "Swi"}))["data"]["searchSuggestions"]
    assert [(s["type"], s["text"]) for s in found] == [("ARTIST", "Taylor Swift")]
    found = (await gql(SUGGEST, {"p": "周杰倫"}))["data"]["searchSuggestions"]
    assert [s["text"] for s in found] == ["周杰伦"]
    node = await gql(
        "query($id: ID!) { node(id: $id) { ... on Artist { name } } }", {"id": found[0]["id"]}
    )
    assert node["data"]["node"]["name"] == "周杰伦"
    # Most popular first, and `first` bounds the list.
    found = (await gql(SUGGEST, {"p": "晴", "first": 1}))["data"]["searchSuggestions"]
    assert [(s["type"], s["text"]) for s in found] == [("TRACK", "晴天")]


async def test_suggestions_refuse_what_is_not_a_prefix(gql: GraphQLClient) -> None:
    await seed()
    await refresh_tiers()
    assert (await gql(SUGGEST, {"p": "   "}))["data"]["searchSuggestions"] == []
    assert (await gql(SUGGEST, {"p": "%"}))["data"]["searchSuggestions"] == []
    assert (await gql(SUGGEST, {"p": "_"}))["data"]["searchSuggestions"] == []
    body = await gql(SUGGEST, {"p": "x" * 51}, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


@pytest.mark.postgres_only
async def test_suggestions_read_one_index_range() -> None:
    from tortoise.transactions import in_transaction

    from ncm.search.suggestions import suggestions

    await seed()
    await refresh_tiers()
    with count_queries() as counter:
        await suggestions("tay", 10)  # longer than the stored heads: an index range
    [sql] = counter.queries
    async with in_transaction() as conn:
        await conn.execute_script("SET LOCAL enable_seqscan = off")
        rows = await conn.execute_query_dict(f"EXPLAIN {sql}", ["tay%"])
    plan = "\n".join(r["QUERY PLAN"] for r in rows)
    assert "search_suggestions_key_idx" in plan, plan
