from __future__ import annotations

import pytest

from ncm.kit.db import is_postgres
from ncm.schema.base import to_global_id
from tests import factories
from tests.conftest import GraphQLClient, count_queries

TRACK_PAGE = """query($id: ID!) { track(id: $id) {
  id title durationMs isrc explicit feePolicy status playCount
  artists { id name } album { id title artist { name } } genres { slug name }
  renditions { quality bitrate format sizeBytes } licenses { region } } }"""

TRACKS = """query($genre: String, $first: Int, $after: String) {
  tracks(genre: $genre, first: $first, after: $after) {
    edges { cursor node { title artists { name } album { title } genres { slug } } }
    pageInfo { hasNextPage endCursor } } }"""


async def test_track_page(gql: GraphQLClient) -> None:
    a1, a2 = await factories.artist("周深"), await factories.artist("Alan Walker")
    t = await factories.track(
        "大鱼", artists=[a1, a2], genres=["soundtrack", "pop"], isrc="CNA0K2300001"
    )
    body = await gql(TRACK_PAGE, {"id": to_global_id("Track", t.id)})
    track = body["data"]["track"]
    assert track["title"] == "大鱼"
    assert [a["name"] for a in track["artists"]] == ["周深", "Alan Walker"]
    assert track["album"]["artist"]["name"] == "周深"
    assert [g["slug"] for g in track["genres"]] == ["pop", "soundtrack"]
    assert track["renditions"][0] == {
        "quality": "STANDARD",
        "bitrate": 128,
        "format": "mp3",
        "sizeBytes": 3_200_000,
    }
    assert track["feePolicy"] == "FREE" and track["licenses"] == [{"region": "*"}]


async def test_missing_and_malformed_ids(gql: GraphQLClient) -> None:
    body = await gql(TRACK_PAGE, {"id": to_global_id("Track", 424242)})
    assert body["data"]["track"] is None
    bad = await gql(TRACK_PAGE, {"id": "%%%"}, expect_errors=True)
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_ID"
    other = await gql(TRACK_PAGE, {"id": to_global_id("Album", 1)}, expect_errors=True)
    assert other["errors"][0]["extensions"]["code"] == "INVALID_ID"


async def test_node_resolves_every_type(gql: GraphQLClient) -> None:
    t = await factories.track("Node test")
    pop = await factories.genre("pop")
    node = "query($id: ID!) { node(id: $id) { __typename id } }"
    for type_name, pk in (
        ("Track", t.id),
        ("Album", t.album_id),
        ("Genre", pop.id),
        ("Artist", (await factories.artist()).id),
    ):
        gid = to_global_id(type_name, pk or 0)
        body = await gql(node, {"id": gid})
        assert body["data"]["node"] == {"__typename": type_name, "id": gid}
    missing = await gql(node, {"id": to_global_id("Nope", 1)})
    assert missing["data"]["node"] is None


async def test_artist_albums_and_top_tracks(gql: GraphQLClient) -> None:
    star = await factories.artist("Luna Ray")
    older = await factories.album("First Light", by=star)
    newer = await factories.album("Second Wind", by=star)
    for plays, title in ((10, "Quiet"), (500, "Hit"), (50, "Mid")):
        await factories.track(title, artists=[star], on=older, play_count=plays)
    body = await gql(
        """query($id: ID!) { artist(id: $id) { name albums(first: 1) { edges { node { title } }
          pageInfo { hasNextPage endCursor } } topTracks(limit: 2) { title playCount } } }""",
        {"id": to_global_id("Artist", star.id)},
    )
    artist = body["data"]["artist"]
    assert [e["node"]["title"] for e in artist["albums"]["edges"]] == [newer.title]
    assert artist["albums"]["pageInfo"]["hasNextPage"] is True
    assert [t["title"] for t in artist["topTracks"]] == ["Hit", "Mid"]


async def test_album_tracks_in_order(gql: GraphQLClient) -> None:
    a = await factories.artist()
    al = await factories.album("Ordered", by=a)
    await factories.track("Two", artists=[a], on=al, track_number=2)
    await factories.track("One", artists=[a], on=al, track_number=1)
    body = await gql(
        "query($id: ID!) { album(id: $id) { tracks { title } } }",
        {"id": to_global_id("Album", al.id)},
    )
    assert [t["title"] for t in body["data"]["album"]["tracks"]] == ["One", "Two"]


async def test_genres_and_tracks_by_genre_paginate(gql: GraphQLClient) -> None:
    rock = [await factories.track(f"Rock {i}", genres=["rock"]) for i in range(5)]
    await factories.track("Pop only", genres=["pop"])
    genres = (await gql("{ genres { slug name } }"))["data"]["genres"]
    assert {g["slug"] for g in genres} == {"rock", "pop"}
    titles, after = [], None
    while True:
        page = (await gql(TRACKS, {"genre": "rock", "first": 2, "after": after}))["data"]
        titles += [e["node"]["title"] for e in page["tracks"]["edges"]]
        if not page["tracks"]["pageInfo"]["hasNextPage"]:
            break
        after = page["tracks"]["pageInfo"]["endCursor"]
    assert titles == [t.title for t in reversed(rock)]
    unknown = await gql(TRACKS, {"genre": "polka"}, expect_errors=True)
    assert unknown["errors"][0]["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("first", [0, 101, -1])
async def test_first_is_capped(gql: GraphQLClient, first: int) -> None:
    body = await gql(TRACKS, {"first": first}, expect_errors=first != 0)
    if first == 0:
        assert body["data"]["tracks"]["edges"] == []
    else:
        assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_catalog_query_count_is_the_same_for_1_and_50_tracks(gql: GraphQLClient) -> None:
    shared = await factories.artist("Shared")
    for i in range(50):
        await factories.track(
            f"Song {i}",
            artists=[shared, await factories.artist()],
            genres=["pop", "rock"] if i % 2 else ["pop"],
        )
    counts = {}
    for first in (1, 50):
        with count_queries() as counter:
            body = await gql(TRACKS, {"first": first})
        assert len(body["data"]["tracks"]["edges"]) == first
        counts[first] = counter.count
    assert counts[1] == counts[50] == 4, counts  # tracks, artists, albums, genres


async def test_track_page_query_count_is_constant(gql: GraphQLClient) -> None:
    t = await factories.track("Constant")
    with count_queries() as counter:
        await gql(TRACK_PAGE, {"id": to_global_id("Track", t.id)})
    # PostgreSQL: the track with its artists, album and genres in one statement
    # (catalog.track_bundle), then the album's artist, renditions, licenses; SQLite: seven
    assert counter.count == (4 if is_postgres() else 7), counter.queries


async def test_track_bundles_hold_what_the_loaders_load() -> None:
    """One statement (PostgreSQL) gives the same rows as the four batch functions."""
    from ncm.catalog import service as catalog

    a, b = await factories.artist("Zed"), await factories.artist("Amy")
    two = await factories.track("Two", artists=[a, b], genres=["rock", "pop"])
    one = await factories.track("One", genres=[])
    ids = [two.id, one.id, 10**9]
    parts = catalog.BUNDLE_PARTS
    for keys in ([two.id], ids):
        bundles = await catalog.track_bundle(parts, keys)
        assert sorted(bundles) == sorted(k for k in keys if k != 10**9)
        artists = await catalog.artists_of_tracks(keys)
        genres = await catalog.genres_of_tracks(keys)
        for pk, bundle in bundles.items():
            assert bundle.track.title == (await catalog.tracks_by_ids([pk]))[pk].title
            assert [x.name for x in bundle.artists or []] == [x.name for x in artists.get(pk, [])]
            assert [x.slug for x in bundle.genres or []] == [x.slug for x in genres.get(pk, [])]
            assert bundle.album is not None and bundle.album.id == bundle.track.album_id
            assert bundle.album.created_at.tzinfo is not None
    assert [
        x.name for x in (await catalog.track_bundle(parts, [two.id]))[two.id].artists or []
    ] == [
        "Zed",
        "Amy",
    ]
    only = (await catalog.track_bundle(frozenset({"album"}), [one.id]))[one.id]
    assert only.artists is None and only.genres is None and only.album is not None
