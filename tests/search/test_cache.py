"""The per-process cache of first search pages (docs/search.md, "Cache")."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ncm.catalog.models import Track
from ncm.config import reset_settings
from ncm.schema.catalog import search as search_page
from ncm.search.maintenance import refresh as refresh_tiers
from tests import factories
from tests.conftest import GraphQLClient, count_queries, login_token, make_user
from tests.playlists.helpers import gid

PAGE = """query($q: String!, $first: Int, $after: String) {
  search(query: $q, types: [TRACK, ARTIST], first: $first, after: $after) {
    edges { node { __typename ... on Track { id title likeCount artists { name }
      album { title } } ... on Artist { name } } }
    pageInfo { hasNextPage endCursor } } }"""
LIKED = """query($q: String!) { search(query: $q, types: [TRACK]) {
  edges { node { ... on Track { title likedByViewer } } } } }"""
LIKE = """mutation($t: ID!) { likeTrack(trackId: $t) { __typename } }"""


@pytest.fixture
def cache_on() -> Iterator[None]:
    saved = os.environ.get("NCM_SEARCH_CACHE_SECONDS")
    os.environ["NCM_SEARCH_CACHE_SECONDS"] = "5"
    reset_settings()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("NCM_SEARCH_CACHE_SECONDS", None)
        else:
            os.environ["NCM_SEARCH_CACHE_SECONDS"] = saved
        reset_settings()


async def seed(n: int = 3) -> list[Track]:
    artist = await factories.artist("Lantern")
    found = [
        await factories.track(f"Lantern song {i}", artists=[artist], play_count=10 - i)
        for i in range(n)
    ]
    await refresh_tiers()
    return found


def titles(body: dict[str, Any]) -> list[str]:
    return [e["node"].get("title") or e["node"]["name"] for e in body["data"]["search"]["edges"]]


async def test_off_by_default_in_tests(gql: GraphQLClient) -> None:
    await seed()
    counts = []
    for _ in range(2):
        with count_queries() as counter:
            await gql(PAGE, {"q": "lantern"})
        counts.append(counter.count)
    assert counts[0] == counts[1] > 0  # the match and the rows, every time


@pytest.mark.usefixtures("cache_on")
async def test_a_first_page_is_served_from_memory(gql: GraphQLClient) -> None:
    await seed()
    first = await gql(PAGE, {"q": "Lantern"})
    assert titles(first)[0] == "Lantern"
    with count_queries() as counter:
        again = await gql(PAGE, {"q": "  LANTERN "})  # the same normalized query
    assert counter.count == 0, counter.queries
    assert again == first


@pytest.mark.usefixtures("cache_on")
async def test_a_stale_page_is_served_while_one_refresh_runs(gql: GraphQLClient) -> None:
    tracks = await seed()
    with count_queries() as cold:
        await gql(PAGE, {"q": "lantern"})
    await Track.filter(id=tracks[0].id).update(title="Lantern renamed")
    search_page._cache.clock = lambda: time.monotonic() + 6  # past the 5 s fresh period
    try:
        with count_queries() as counter:
            stale = await asyncio.gather(*(gql(PAGE, {"q": "lantern"}) for _ in range(10)))
            assert all("Lantern song 0" in titles(body) for body in stale)  # none waited
            await search_page.drain_cache()
        # One refresh for the ten requests (a cold load's statements), none of their own.
        assert counter.count == cold.count
        with count_queries() as counter:
            fresh = await gql(PAGE, {"q": "lantern"})
        assert counter.count == 0
        assert "Lantern renamed" in titles(fresh)
    finally:
        search_page._cache.clock = time.monotonic


@pytest.mark.usefixtures("cache_on")
async def test_cursor_pages_are_never_cached(gql: GraphQLClient) -> None:
    await seed(5)
    first = await gql(PAGE, {"q": "lantern", "first": 2})
    after = first["data"]["search"]["pageInfo"]["endCursor"]
    await gql(PAGE, {"q": "lantern", "first": 2, "after": after})
    with count_queries() as counter:
        await gql(PAGE, {"q": "lantern", "first": 2, "after": after})
    assert counter.count > 0
    with count_queries() as counter:  # another page size is another entry
        await gql(PAGE, {"q": "lantern", "first": 3})
    assert counter.count > 0
    with count_queries() as counter:
        await gql(PAGE, {"q": "lantern", "first": 2})
    assert counter.count == 0


@pytest.mark.usefixtures("cache_on")
async def test_viewer_specific_fields_are_never_cached(gql: GraphQLClient) -> None:
    tracks = await seed(1)
    fan = await login_token(await make_user("fan"))
    other = await login_token(await make_user("other"))
    await gql(LIKE, {"t": gid("Track", tracks[0].id)}, token=fan)
    liked = [
        e["node"]
        for e in (await gql(LIKED, {"q": "lantern"}, token=fan))["data"]["search"]["edges"]
    ]
    assert liked == [{"title": "Lantern song 0", "likedByViewer": True}]
    for token in (other, None):
        body = await gql(LIKED, {"q": "lantern"}, token=token)
        assert [e["node"]["likedByViewer"] for e in body["data"]["search"]["edges"]] == [False]


@pytest.mark.usefixtures("cache_on")
async def test_the_suite_resets_the_cache_between_tests_part_1(gql: GraphQLClient) -> None:
    await factories.track("Isolation one")
    await refresh_tiers()
    assert titles(await gql(PAGE, {"q": "isolation"})) == ["Isolation one"]


@pytest.mark.usefixtures("cache_on")
async def test_the_suite_resets_the_cache_between_tests_part_2(gql: GraphQLClient) -> None:
    assert len(search_page._cache) == 0
    await factories.track("Isolation two")
    await refresh_tiers()
    assert titles(await gql(PAGE, {"q": "isolation"})) == ["Isolation two"]


def test_on_for_five_seconds_in_production_off_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    from ncm.config import load_settings

    monkeypatch.delenv("NCM_SEARCH_CACHE_SECONDS", raising=False)
    monkeypatch.setenv("NCM_ENV", "production")
    assert load_settings().search_cache_seconds == 5
    monkeypatch.setenv("NCM_ENV", "development")
    assert load_settings().search_cache_seconds == 0
    monkeypatch.setenv("NCM_SEARCH_CACHE_SECONDS", "2")
    assert load_settings().search_cache_seconds == 2
