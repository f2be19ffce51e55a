from __future__ import annotations

import asyncio

import pytest

from ncm.playlists import entries, service
from ncm.playlists.models import Playlist, PlaylistEntry
from tests.conftest import GraphQLClient, count_queries, login_token, make_user
from tests.playlists.helpers import ENTRIES, gid, playlist_of, titles, tracks

ADD = """mutation($p: ID!, $t: [ID!]!, $pos: Int, $v: Int) {
  addTracksToPlaylist(playlistId: $p, trackIds: $t, position: $pos, expectedVersion: $v) {
  __typename
  ... on AddTracksPayload { added { id position } skippedTrackIds playlist { version entryCount } }
  ... on PlaylistVersionConflictError { currentVersion }
  ... on PlaylistFullError { limit }
  ... on Error { code field } } }"""
MOVE = """mutation($p: ID!, $s: Int!, $n: Int!, $b: Int!, $v: Int) {
  movePlaylistEntries(playlistId: $p, rangeStart: $s, rangeLength: $n, insertBefore: $b,
  expectedVersion: $v) { __typename ... on PlaylistPayload { playlist { version } }
  ... on PlaylistVersionConflictError { currentVersion } ... on Error { code field } } }"""
REMOVE = """mutation($p: ID!, $e: [ID!]!) { removePlaylistEntries(playlistId: $p, entryIds: $e) {
  __typename ... on PlaylistPayload { playlist { entryCount } } ... on Error { code } } }"""
REPLACE = """mutation($p: ID!, $t: [ID!]!) { replacePlaylistEntries(playlistId: $p, trackIds: $t) {
  __typename ... on AddTracksPayload { playlist { entryCount version } skippedTrackIds } } }"""


async def _setup(n: int = 5, **kwargs):  # type: ignore[no-untyped-def]
    owner = await make_user("owner")
    p = await playlist_of(owner, **kwargs)
    return owner, await login_token(owner), p, await tracks(n)


async def test_add_at_end_and_at_position(gql: GraphQLClient) -> None:
    _owner, token, p, ts = await _setup()
    pid = gid("Playlist", p.id)
    r = await gql(ADD, {"p": pid, "t": [gid("Track", t.id) for t in ts[:3]]}, token=token)
    added = r["data"]["addTracksToPlaylist"]
    assert [a["position"] for a in added["added"]] == [0, 1, 2]
    assert added["playlist"] == {"version": 2, "entryCount": 3}
    r = await gql(ADD, {"p": pid, "t": [gid("Track", ts[3].id)], "pos": 1}, token=token)
    assert r["data"]["addTracksToPlaylist"]["added"][0]["position"] == 1
    r = await gql(ADD, {"p": pid, "t": [gid("Track", ts[4].id)], "pos": 0}, token=token)
    assert await titles(gql, p.id, token) == ["Song 4", "Song 0", "Song 3", "Song 1", "Song 2"]


async def test_duplicates_skipped_unless_allowed(gql: GraphQLClient) -> None:
    owner, token, p, ts = await _setup(2)
    pid, t0 = gid("Playlist", p.id), gid("Track", ts[0].id)
    await gql(ADD, {"p": pid, "t": [t0]}, token=token)
    r = (await gql(ADD, {"p": pid, "t": [t0, t0, gid("Track", ts[1].id)]}, token=token))["data"]
    assert r["addTracksToPlaylist"]["skippedTrackIds"] == [t0, t0]
    assert len(r["addTracksToPlaylist"]["added"]) == 1
    dup = await playlist_of(owner, title="Dups", allow_duplicates=True)
    r = await gql(ADD, {"p": gid("Playlist", dup.id), "t": [t0, t0]}, token=token)
    assert len(r["data"]["addTracksToPlaylist"]["added"]) == 2


async def test_unknown_track_and_bad_position_change_nothing(gql: GraphQLClient) -> None:
    _owner, token, p, ts = await _setup(1)
    pid = gid("Playlist", p.id)
    r = await gql(ADD, {"p": pid, "t": [gid("Track", ts[0].id), gid("Track", 99999)]}, token=token)
    assert r["data"]["addTracksToPlaylist"]["__typename"] == "NotFoundError"
    r = await gql(ADD, {"p": pid, "t": [gid("Track", ts[0].id)], "pos": -1}, token=token)
    assert r["data"]["addTracksToPlaylist"]["field"] == "position"
    assert await PlaylistEntry.all().count() == 0


async def test_limit_of_10000_entries(gql: GraphQLClient) -> None:
    _owner, token, p, ts = await _setup(3, allow_duplicates=True)
    rows = [
        PlaylistEntry(playlist_id=p.id, track_id=ts[0].id, sort_key=(i + 1) << 20)
        for i in range(entries.MAX_ENTRIES - 1)
    ]
    await PlaylistEntry.bulk_create(rows, batch_size=2000)
    await Playlist.filter(id=p.id).update(entry_count=entries.MAX_ENTRIES - 1)
    pid = gid("Playlist", p.id)
    full = await gql(
        ADD, {"p": pid, "t": [gid("Track", ts[1].id), gid("Track", ts[2].id)]}, token=token
    )
    result = full["data"]["addTracksToPlaylist"]
    assert (result["__typename"], result["code"], result["limit"]) == (
        "PlaylistFullError",
        "PLAYLIST_FULL",
        10_000,
    )
    assert await PlaylistEntry.filter(playlist_id=p.id).count() == entries.MAX_ENTRIES - 1
    ok = await gql(ADD, {"p": pid, "t": [gid("Track", ts[1].id)]}, token=token)
    assert ok["data"]["addTracksToPlaylist"]["playlist"]["entryCount"] == 10_000


async def test_move_range(gql: GraphQLClient) -> None:
    owner, token, p, ts = await _setup(6)
    await entries.add_tracks(owner, p.id, [t.id for t in ts])
    pid = gid("Playlist", p.id)
    await gql(MOVE, {"p": pid, "s": 1, "n": 2, "b": 5}, token=token)  # songs 1-2 before song 5
    assert await titles(gql, p.id, token) == [f"Song {i}" for i in (0, 3, 4, 1, 2, 5)]
    await gql(MOVE, {"p": pid, "s": 4, "n": 2, "b": 0}, token=token)  # last two to the top
    assert await titles(gql, p.id, token) == [f"Song {i}" for i in (2, 5, 0, 3, 4, 1)]
    await gql(MOVE, {"p": pid, "s": 0, "n": 1, "b": 6}, token=token)  # first to the end
    assert await titles(gql, p.id, token) == [f"Song {i}" for i in (5, 0, 3, 4, 1, 2)]
    bad = await gql(MOVE, {"p": pid, "s": 5, "n": 2, "b": 0}, token=token)
    assert bad["data"]["movePlaylistEntries"]["field"] == "rangeStart"
    bad = await gql(MOVE, {"p": pid, "s": 0, "n": 1, "b": 7}, token=token)
    assert bad["data"]["movePlaylistEntries"]["field"] == "insertBefore"


async def test_moves_renumber_when_gaps_run_out(gql: GraphQLClient) -> None:
    owner, token, p, ts = await _setup(3)
    await entries.add_tracks(owner, p.id, [t.id for t in ts])
    # Squeeze the keys together so the next move finds no gap.
    for i, e in enumerate(await PlaylistEntry.filter(playlist_id=p.id).order_by("sort_key")):
        await PlaylistEntry.filter(id=e.id).update(sort_key=i)
    await gql(MOVE, {"p": gid("Playlist", p.id), "s": 2, "n": 1, "b": 1}, token=token)
    assert await titles(gql, p.id, token) == ["Song 0", "Song 2", "Song 1"]
    keys = (
        await PlaylistEntry.filter(playlist_id=p.id)
        .order_by("sort_key")
        .values_list("sort_key", flat=True)
    )
    assert len(set(keys)) == 3 and keys[1] - keys[0] > 1000


async def test_version_conflict_changes_nothing(gql: GraphQLClient) -> None:
    _owner, token, p, ts = await _setup(2)
    pid = gid("Playlist", p.id)
    await gql(ADD, {"p": pid, "t": [gid("Track", ts[0].id)], "v": 1}, token=token)
    stale = await gql(ADD, {"p": pid, "t": [gid("Track", ts[1].id)], "v": 1}, token=token)
    result = stale["data"]["addTracksToPlaylist"]
    assert (result["__typename"], result["currentVersion"]) == ("PlaylistVersionConflictError", 2)
    moved = await gql(MOVE, {"p": pid, "s": 0, "n": 1, "b": 1, "v": 1}, token=token)
    assert moved["data"]["movePlaylistEntries"]["__typename"] == "PlaylistVersionConflictError"
    assert await titles(gql, p.id, token) == ["Song 0"]


async def test_remove_by_entry_id_is_unambiguous_and_atomic(gql: GraphQLClient) -> None:
    owner, token, p, ts = await _setup(1, allow_duplicates=True)
    result = await entries.add_tracks(owner, p.id, [ts[0].id] * 3)
    pid = gid("Playlist", p.id)
    middle = gid("PlaylistEntry", result.added[1].id)
    r = await gql(REMOVE, {"p": pid, "e": [middle, gid("PlaylistEntry", 999999)]}, token=token)
    assert r["data"]["removePlaylistEntries"]["__typename"] == "NotFoundError"
    assert await PlaylistEntry.filter(playlist_id=p.id).count() == 3
    r = await gql(REMOVE, {"p": pid, "e": [middle]}, token=token)
    assert r["data"]["removePlaylistEntries"]["playlist"]["entryCount"] == 2
    left = await PlaylistEntry.filter(playlist_id=p.id).values_list("id", flat=True)
    assert sorted(left) == sorted([result.added[0].id, result.added[2].id])


async def test_replace_all(gql: GraphQLClient) -> None:
    owner, token, p, ts = await _setup(4)
    await entries.add_tracks(owner, p.id, [t.id for t in ts[:3]])
    r = await gql(
        REPLACE,
        {
            "p": gid("Playlist", p.id),
            "t": [gid("Track", ts[3].id), gid("Track", ts[0].id), gid("Track", ts[3].id)],
        },
        token=token,
    )
    payload = r["data"]["replacePlaylistEntries"]
    assert payload["playlist"] == {"entryCount": 2, "version": 3}
    assert payload["skippedTrackIds"] == [gid("Track", ts[3].id)]
    assert await titles(gql, p.id, token) == ["Song 3", "Song 0"]


async def test_entry_pages_cost_the_same_at_any_depth(gql: GraphQLClient) -> None:
    _owner, token, p, ts = await _setup(50, allow_duplicates=True)
    rows = [
        PlaylistEntry(playlist_id=p.id, track_id=ts[i % 50].id, sort_key=(i + 1) << 20)
        for i in range(10_000)
    ]
    await PlaylistEntry.bulk_create(rows, batch_size=2000)
    await Playlist.filter(id=p.id).update(entry_count=10_000)
    counts, after, pages, positions = [], None, 0, []
    while True:
        with count_queries() as counter:
            body = await gql(
                ENTRIES, {"id": gid("Playlist", p.id), "first": 100, "after": after}, token=token
            )
        conn = body["data"]["playlist"]["entries"]
        counts.append(counter.count)
        positions += [e["node"]["position"] for e in conn["edges"]]
        pages += 1
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert pages == 100 and positions == list(range(10_000))
    assert len(set(counts)) == 1, set(counts)


@pytest.mark.postgres_only
async def test_concurrent_adds_and_moves_lose_nothing(gql: GraphQLClient) -> None:
    owner, _token, p, ts = await _setup(40, allow_duplicates=True)
    await entries.add_tracks(owner, p.id, [t.id for t in ts[:10]])

    async def add(i: int) -> None:
        await entries.add_tracks(owner, p.id, [ts[i % 40].id], position=(i * 7) % 10)

    async def move(i: int) -> None:
        await entries.move_entries(owner, p.id, range_start=i % 5, range_length=2, insert_before=8)

    await asyncio.gather(*(add(i) for i in range(60)), *(move(i) for i in range(20)))
    p_after = await Playlist.get(id=p.id)
    rows = await PlaylistEntry.filter(playlist_id=p.id).values_list("sort_key", flat=True)
    assert len(rows) == len(set(rows)) == 70 == p_after.entry_count
    assert p_after.version == 1 + 1 + 60 + 20


@pytest.mark.postgres_only
async def test_1000_concurrent_adds_across_50_playlists(gql: GraphQLClient) -> None:
    owner = await make_user("owner")
    ts = await tracks(20)
    lists = [await playlist_of(owner, title=f"P{i}", allow_duplicates=True) for i in range(50)]

    async def add(i: int) -> None:
        await entries.add_tracks(owner, lists[i % 50].id, [ts[i % 20].id])

    await asyncio.gather(*(add(i) for i in range(1000)))
    for playlist in lists:
        await playlist.refresh_from_db()
        keys = await PlaylistEntry.filter(playlist_id=playlist.id).values_list(
            "sort_key", flat=True
        )
        assert playlist.entry_count == len(keys) == len(set(keys)) == 20


LISTS = """query($u: ID!) { user(id: $u) { playlists(first: 20) { edges { node { title
  entries(first: 2) { edges { node { position track { title } } }
  pageInfo { hasNextPage endCursor } } } } } } }"""


async def test_first_entries_of_many_playlists_cost_the_same_queries(
    gql: GraphQLClient,
) -> None:
    """A list of playlists with a few entries each: one query for all their entries, the
    same rows as each playlist's own page, and the cursor continues there."""
    owner = await make_user("owner")
    friend = await make_user("friend")
    friend_token = await login_token(friend)
    ts = await tracks(4)
    counts: dict[int, int] = {}
    seen: dict[int, list[tuple[str, list[str], bool]]] = {}
    for n in (4, 8):
        while len(await Playlist.filter(owner_id=owner.id)) < n:
            i = len(await Playlist.filter(owner_id=owner.id))
            p = await playlist_of(owner, title=f"P{i}", privacy="PRIVATE" if i % 2 else "PUBLIC")
            if i % 4:
                await entries.add_tracks(owner, p.id, [t.id for t in ts[: i % 4]])
            if i == 3:
                await service.add_collaborator(owner, p.id, friend.id)
        with count_queries() as counter:
            body = await gql(LISTS, {"u": gid("User", owner.id)}, token=friend_token)
        counts[n] = counter.count
        nodes = [e["node"] for e in body["data"]["user"]["playlists"]["edges"]]
        seen[n] = [
            (
                x["title"],
                [e["node"]["track"]["title"] for e in x["entries"]["edges"]],
                x["entries"]["pageInfo"]["hasNextPage"],
            )
            for x in nodes
        ]
    assert counts[4] == counts[8], counts
    # The friend sees the public ones and the private one they collaborate on (P3).
    assert sorted(seen[8]) == [
        ("P0", [], False),
        ("P2", ["Song 0", "Song 1"], False),
        ("P3", ["Song 0", "Song 1"], True),
        ("P4", [], False),
        ("P6", ["Song 0", "Song 1"], False),
    ]
    p3 = await Playlist.get(owner_id=owner.id, title="P3")
    body = await gql(LISTS, {"u": gid("User", owner.id)}, token=friend_token)
    cursor = next(
        e["node"]["entries"]["pageInfo"]["endCursor"]
        for e in body["data"]["user"]["playlists"]["edges"]
        if e["node"]["title"] == "P3"
    )
    rest = await gql(
        ENTRIES, {"id": gid("Playlist", p3.id), "first": 5, "after": cursor}, token=friend_token
    )
    edges = rest["data"]["playlist"]["entries"]["edges"]
    assert [(e["node"]["position"], e["node"]["track"]["title"]) for e in edges] == [(2, "Song 2")]
