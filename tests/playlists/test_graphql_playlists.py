from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ncm.playlists import service
from ncm.playlists.models import Playlist
from tests.conftest import GraphQLClient, login_token, make_user
from tests.playlists.helpers import gid, playlist_of, titles, tracks

CREATE = """mutation($input: CreatePlaylistInput!) { createPlaylist(input: $input) { __typename
  ... on PlaylistPayload { playlist { id title description tags privacy version entryCount
    owner { handle } viewerCanEdit } }
  ... on Error { code field message } } }"""
UPDATE = """mutation($id: ID!, $input: UpdatePlaylistInput!, $v: Int) {
  updatePlaylist(playlistId: $id, input: $input, expectedVersion: $v) { __typename
  ... on PlaylistPayload { playlist { title privacy version tags } }
  ... on PlaylistVersionConflictError { currentVersion }
  ... on Error { code field } } }"""
PLAYLIST = "query($id: ID!) { playlist(id: $id) { title privacy } }"


async def test_create_and_read(gql: GraphQLClient) -> None:
    token = await login_token(await make_user("owner"))
    body = await gql(
        CREATE,
        {
            "input": {
                "title": "  Night   drive ",
                "description": "夜のドライブ",
                "tags": ["city pop", "City Pop", "夜"],
                "privacy": "PRIVATE",
            }
        },
        token=token,
    )
    p = body["data"]["createPlaylist"]["playlist"]
    assert p["title"] == "Night drive" and p["tags"] == ["city pop", "夜"]
    assert (p["privacy"], p["version"], p["entryCount"]) == ("PRIVATE", 1, 0)
    assert p["owner"]["handle"] == "owner" and p["viewerCanEdit"] is True
    mine = await gql(PLAYLIST, {"id": p["id"]}, token=token)
    assert mine["data"]["playlist"]["title"] == "Night drive"


async def test_private_playlist_is_not_found_for_others(gql: GraphQLClient) -> None:
    owner, other = await make_user("owner"), await make_user("other")
    p = await playlist_of(owner, privacy="PRIVATE")
    for token in (None, await login_token(other)):
        assert (await gql(PLAYLIST, {"id": gid("Playlist", p.id)}, token=token))["data"] == {
            "playlist": None
        }
        node = await gql(
            "query($id: ID!) { node(id: $id) { id } }", {"id": gid("Playlist", p.id)}, token=token
        )
        assert node["data"]["node"] is None
    r = await gql(
        UPDATE,
        {"id": gid("Playlist", p.id), "input": {"title": "x"}},
        token=await login_token(other),
    )
    assert r["data"]["updatePlaylist"]["__typename"] == "NotFoundError"


async def test_bad_input_is_typed(gql: GraphQLClient) -> None:
    token = await login_token(await make_user("owner"))
    for input_, field in (
        ({"title": "  "}, "title"),
        ({"title": "x" * 101}, "title"),
        ({"title": "ok", "tags": ["t"] * 0 + [f"t{i}" for i in range(11)]}, "tags"),
        ({"title": "ok", "coverUrl": "ftp://x"}, "coverUrl"),
    ):
        r = (await gql(CREATE, {"input": input_}, token=token))["data"]["createPlaylist"]
        assert (r["__typename"], r["field"]) == ("InvalidInputError", field), r
    assert await Playlist.all().count() == 0


async def test_update_with_version_and_conflict(gql: GraphQLClient) -> None:
    owner = await make_user("owner")
    token = await login_token(owner)
    p = await playlist_of(owner)
    ok = (
        await gql(
            UPDATE,
            {
                "id": gid("Playlist", p.id),
                "input": {"title": "Renamed", "privacy": "PRIVATE"},
                "v": 1,
            },
            token=token,
        )
    )["data"]["updatePlaylist"]
    assert ok["playlist"] == {"title": "Renamed", "privacy": "PRIVATE", "version": 2, "tags": []}
    stale = (
        await gql(
            UPDATE, {"id": gid("Playlist", p.id), "input": {"title": "Stale"}, "v": 1}, token=token
        )
    )["data"]["updatePlaylist"]
    assert stale["__typename"] == "PlaylistVersionConflictError"
    assert stale["currentVersion"] == 2
    await p.refresh_from_db()
    assert p.title == "Renamed"


async def test_only_owner_renames_collaborator_edits_entries(gql: GraphQLClient) -> None:
    owner, friend = await make_user("owner"), await make_user("friend")
    p = await playlist_of(owner)
    await service.add_collaborator(owner, p.id, friend.id)
    friend_token = await login_token(friend)
    rename = await gql(
        UPDATE,
        {"id": gid("Playlist", p.id), "input": {"title": "Mine now"}},
        token=friend_token,
        expect_errors=True,
    )
    assert rename["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    [t] = await tracks(1)
    add = await gql(
        """mutation($p: ID!, $t: [ID!]!) { addTracksToPlaylist(playlistId: $p, trackIds: $t) {
        __typename ... on AddTracksPayload { added { position addedBy { handle } } } } }""",
        {"p": gid("Playlist", p.id), "t": [gid("Track", t.id)]},
        token=friend_token,
    )
    assert add["data"]["addTracksToPlaylist"]["added"] == [
        {"position": 0, "addedBy": {"handle": "friend"}}
    ]
    stranger = await login_token(await make_user("stranger"))
    denied = await gql(
        """mutation($p: ID!, $t: [ID!]!) { addTracksToPlaylist(playlistId: $p, trackIds: $t) {
        __typename } }""",
        {"p": gid("Playlist", p.id), "t": [gid("Track", t.id)]},
        token=stranger,
        expect_errors=True,
    )
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_soft_delete_restore_and_purge(gql: GraphQLClient) -> None:
    owner = await make_user("owner")
    token = await login_token(owner)
    p = await playlist_of(owner)
    delete = """mutation($id: ID!) { deletePlaylist(playlistId: $id) { __typename
      ... on PlaylistPayload { playlist { deletedAt } } } }"""
    r = await gql(delete, {"id": gid("Playlist", p.id)}, token=token)
    assert r["data"]["deletePlaylist"]["playlist"]["deletedAt"]
    assert (await gql(PLAYLIST, {"id": gid("Playlist", p.id)}, token=token))["data"] == {
        "playlist": None
    }
    listed = await gql(
        "{ viewer { playlists { edges { node { id } } } deletedPlaylists { id } } }", token=token
    )
    assert listed["data"]["viewer"]["playlists"]["edges"] == []
    assert listed["data"]["viewer"]["deletedPlaylists"] == [{"id": gid("Playlist", p.id)}]
    restore = """mutation($id: ID!) { restorePlaylist(playlistId: $id) { __typename
      ... on PlaylistPayload { playlist { deletedAt title } } } }"""
    r = await gql(restore, {"id": gid("Playlist", p.id)}, token=token)
    assert r["data"]["restorePlaylist"]["playlist"] == {"deletedAt": None, "title": "Mix"}
    # Deleted 31 days ago: too late to restore, and the purge job removes it.
    await service.delete_playlist(owner, p.id)
    await Playlist.filter(id=p.id).update(deleted_at=datetime.now(UTC) - timedelta(days=31))
    late = await gql(restore, {"id": gid("Playlist", p.id)}, token=token)
    assert late["data"]["restorePlaylist"]["__typename"] == "NotFoundError"
    keep = await playlist_of(owner, title="Keep")
    from ncm.playlists.jobs import purge_deleted_playlists

    assert await purge_deleted_playlists({}) == 1
    assert await Playlist.all().values_list("id", flat=True) == [keep.id]


async def test_viewer_playlists_reorder_and_user_playlists_visibility(gql: GraphQLClient) -> None:
    owner, friend = await make_user("owner"), await make_user("friend")
    a = await playlist_of(owner, title="A")
    b = await playlist_of(owner, title="B")
    c = await playlist_of(owner, title="C", privacy="PRIVATE")
    token = await login_token(owner)
    q = "{ viewer { playlists { edges { node { title } } } } }"
    order = lambda body: [e["node"]["title"] for e in body["data"]["viewer"]["playlists"]["edges"]]  # noqa: E731
    assert order(await gql(q, token=token)) == ["C", "B", "A"]  # newest first
    move = """mutation($p: ID!, $b: ID) { movePlaylist(playlistId: $p, beforePlaylistId: $b) {
      __typename } }"""
    await gql(move, {"p": gid("Playlist", a.id), "b": gid("Playlist", c.id)}, token=token)
    await gql(move, {"p": gid("Playlist", c.id), "b": None}, token=token)
    assert order(await gql(q, token=token)) == ["A", "B", "C"]
    theirs = """query($u: ID!) { user(id: $u) { playlists { edges { node { title } } } } }"""
    public = await gql(theirs, {"u": gid("User", owner.id)})
    assert [e["node"]["title"] for e in public["data"]["user"]["playlists"]["edges"]] == ["A", "B"]
    await service.add_collaborator(owner, c.id, friend.id)
    seen = await gql(theirs, {"u": gid("User", owner.id)}, token=await login_token(friend))
    assert [e["node"]["title"] for e in seen["data"]["user"]["playlists"]["edges"]] == [
        "A",
        "B",
        "C",
    ]
    assert b.id


async def test_titles_helper_sees_entries(gql: GraphQLClient) -> None:
    owner = await make_user("owner")
    p = await playlist_of(owner)
    assert await titles(gql, p.id) == []


@pytest.mark.postgres_only
async def test_playlists_created_at_once_each_get_their_own_place() -> None:
    owner = await make_user("busy")
    made = await asyncio.gather(*(service.create_playlist(owner, title=f"P{i}") for i in range(6)))
    keys = [p.owner_sort_key for p in await Playlist.filter(owner_id=owner.id)]
    assert len(set(keys)) == 6
    # And moving one before another then does what it says.
    first, second = sorted(made, key=lambda p: p.owner_sort_key)[:2]
    await service.move_playlist(owner, second.id, first.id)
    order = [p.id for p in await Playlist.filter(owner_id=owner.id).order_by("owner_sort_key")]
    assert order[:2] == [second.id, first.id]


async def test_deleted_playlists_are_no_anchor_and_keep_their_collaborators() -> None:
    from ncm.errors import NotFound

    owner, friend = await make_user("owner"), await make_user("friend")
    keep, gone = await playlist_of(owner, title="Keep"), await playlist_of(owner, title="Gone")
    await service.add_collaborator(owner, gone.id, friend.id)
    await service.delete_playlist(owner, gone.id)
    with pytest.raises(NotFound):
        await service.move_playlist(owner, keep.id, gone.id)
    with pytest.raises(NotFound):
        await service.remove_collaborator(owner, gone.id, friend.id)
    restored = await service.restore_playlist(owner, gone.id)
    assert friend.id in (await service.collaborators_of([restored.id]))[restored.id]


async def test_a_bad_cover_url_names_the_cover(gql: GraphQLClient) -> None:
    token = await login_token(await make_user("coverer"))
    body = await gql(
        """mutation($input: CreatePlaylistInput!) { createPlaylist(input: $input) {
          __typename ... on Error { code field message } } }""",
        {"input": {"title": "Mix", "coverUrl": "not a url"}},
        token=token,
    )
    result = body["data"]["createPlaylist"]
    assert result["field"] == "coverUrl" and result["message"].startswith("The cover must")
