from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ncm.catalog.models import Track
from ncm.playlists.models import Playlist, ShareLink
from tests.conftest import GraphQLClient, count_queries, login_token, make_user
from tests.playlists.helpers import gid, playlist_of, tracks

LIKE = """mutation($t: ID!, $s: String) { likeTrack(trackId: $t, shareToken: $s) { __typename
  ... on TrackLikePayload { liked track { likeCount likedByViewer } } ... on Error { code field } } }"""
UNLIKE = """mutation($t: ID!) { unlikeTrack(trackId: $t) { __typename
  ... on TrackLikePayload { liked track { likeCount likedByViewer } } } }"""
SUBSCRIBE = """mutation($p: ID!, $s: String) { subscribePlaylist(playlistId: $p, shareToken: $s) {
  __typename ... on SubscribePayload { playlist { subscriberCount subscribedByViewer } }
  ... on Error { code field } } }"""
SHARE_TRACK = """mutation($t: ID!, $c: ShareChannel!) { shareTrack(trackId: $t, channel: $c) {
  __typename ... on SharePayload { shareLink { token channel track { shareCount } } }
  ... on Error { code } } }"""
SHARE_LINK = """query($token: String!) { shareLink(token: $token) { channel sharer { handle }
  track { title } playlist { title } attribution { likes subscriptions plays } } }"""


async def test_like_is_idempotent_and_fills_liked_songs(gql: GraphQLClient) -> None:
    token = await login_token(await make_user("fan"))
    ts = await tracks(2)
    for _ in range(2):
        r = (await gql(LIKE, {"t": gid("Track", ts[0].id)}, token=token))["data"]["likeTrack"]
        assert r["track"] == {"likeCount": 1, "likedByViewer": True}
    await gql(LIKE, {"t": gid("Track", ts[1].id)}, token=token)
    liked = await gql(
        """{ viewer { likedSongs { kind privacy entryCount
        entries { edges { node { track { title } } } } } } }""",
        token=token,
    )
    songs = liked["data"]["viewer"]["likedSongs"]
    assert (songs["kind"], songs["privacy"], songs["entryCount"]) == ("LIKED", "PRIVATE", 2)
    assert [e["node"]["track"]["title"] for e in songs["entries"]["edges"]] == ["Song 1", "Song 0"]
    for _ in range(2):
        r = (await gql(UNLIKE, {"t": gid("Track", ts[0].id)}, token=token))["data"]["unlikeTrack"]
        assert r["track"] == {"likeCount": 0, "likedByViewer": False}
    assert await Playlist.filter(kind="LIKED").count() == 1


async def test_liked_by_viewer_is_batched(gql: GraphQLClient) -> None:
    from ncm.playlists.likes import like_track

    fan = await make_user("fan")
    token = await login_token(fan)
    ts = await tracks(20)
    for t in ts[::2]:
        await like_track(fan, t.id)
    q = """query($first: Int) { tracks(first: $first) { edges { node { likedByViewer } } } }"""
    counts = []
    for first in (1, 20):
        with count_queries() as counter:
            body = await gql(q, {"first": first}, token=token)
        counts.append(counter.count)
    flags = [e["node"]["likedByViewer"] for e in body["data"]["tracks"]["edges"]]
    assert flags == [i % 2 == 1 for i in range(20)]  # newest first: Song 19 .. Song 0
    assert counts[0] == counts[1], counts


@pytest.mark.postgres_only
async def test_concurrent_likes_count_once_per_user(gql: GraphQLClient) -> None:
    from ncm.playlists.likes import like_track

    [t] = await tracks(1)
    fans = [await make_user(f"fan{i}") for i in range(10)]
    await asyncio.gather(*(like_track(f, t.id) for f in fans for _ in range(3)))
    await t.refresh_from_db()
    assert t.like_count == 10


async def test_subscribe_rules_and_counts(gql: GraphQLClient) -> None:
    owner, fan = await make_user("owner"), await make_user("fan")
    public = await playlist_of(owner, title="Public")
    private = await playlist_of(owner, title="Private", privacy="PRIVATE")
    fan_token = await login_token(fan)
    for _ in range(2):
        r = (await gql(SUBSCRIBE, {"p": gid("Playlist", public.id)}, token=fan_token))["data"]
        assert r["subscribePlaylist"]["playlist"] == {
            "subscriberCount": 1,
            "subscribedByViewer": True,
        }
    r = (await gql(SUBSCRIBE, {"p": gid("Playlist", private.id)}, token=fan_token))["data"]
    assert r["subscribePlaylist"]["__typename"] == "NotFoundError"
    own = await gql(SUBSCRIBE, {"p": gid("Playlist", public.id)}, token=await login_token(owner))
    assert own["data"]["subscribePlaylist"]["field"] == "playlistId"
    saved = await gql(
        "{ viewer { subscribedPlaylists { edges { node { title } } } } }", token=fan_token
    )
    assert saved["data"]["viewer"]["subscribedPlaylists"]["edges"] == [
        {"node": {"title": "Public"}}
    ]
    unsub = """mutation($p: ID!) { unsubscribePlaylist(playlistId: $p) { __typename
      ... on SubscribePayload { playlist { subscriberCount } } } }"""
    for _ in range(2):
        r = await gql(unsub, {"p": gid("Playlist", public.id)}, token=fan_token)
        assert r["data"]["unsubscribePlaylist"]["playlist"]["subscriberCount"] == 0


async def test_share_links_and_attribution(gql: GraphQLClient) -> None:
    sharer, friend = await make_user("sharer"), await make_user("friend")
    sharer_token, friend_token = await login_token(sharer), await login_token(friend)
    [t] = await tracks(1)
    r = await gql(SHARE_TRACK, {"t": gid("Track", t.id), "c": "WECHAT"}, token=sharer_token)
    link = r["data"]["shareTrack"]["shareLink"]
    assert link["channel"] == "WECHAT" and len(link["token"]) == 10 and link["token"].isalnum()
    assert link["track"]["shareCount"] == 1
    await gql(LIKE, {"t": gid("Track", t.id), "s": link["token"]}, token=friend_token)
    p = await playlist_of(sharer, title="Shared mix")
    share = await gql(
        """mutation($p: ID!) { sharePlaylist(playlistId: $p, channel: KKBOX) {
        ... on SharePayload { shareLink { token playlist { shareCount } } } } }""",
        {"p": gid("Playlist", p.id)},
        token=sharer_token,
    )
    playlist_token = share["data"]["sharePlaylist"]["shareLink"]["token"]
    await gql(SUBSCRIBE, {"p": gid("Playlist", p.id), "s": playlist_token}, token=friend_token)

    anonymous = (await gql(SHARE_LINK, {"token": link["token"]}))["data"]["shareLink"]
    assert anonymous["track"] == {"title": "Song 0"} and anonymous["attribution"] is None
    mine = await gql(SHARE_LINK, {"token": link["token"]}, token=sharer_token)
    assert mine["data"]["shareLink"]["attribution"] == {"likes": 1, "subscriptions": 0, "plays": 0}
    mine = await gql(SHARE_LINK, {"token": playlist_token}, token=sharer_token)
    assert mine["data"]["shareLink"]["attribution"]["subscriptions"] == 1
    assert mine["data"]["shareLink"]["playlist"] == {"title": "Shared mix"}
    assert (await gql(SHARE_LINK, {"token": "nope"}))["data"]["shareLink"] is None
    bad = await gql(LIKE, {"t": gid("Track", t.id), "s": "bogus-token"}, token=friend_token)
    assert bad["data"]["likeTrack"]["field"] == "shareToken"
    assert (await Track.get(id=t.id)).like_count == 1


async def test_private_playlist_share_hides_the_playlist(gql: GraphQLClient) -> None:
    owner = await make_user("owner")
    p = await playlist_of(owner, title="Secret", privacy="PRIVATE")
    token = await login_token(owner)
    share = await gql(
        """mutation($p: ID!) { sharePlaylist(playlistId: $p) {
        ... on SharePayload { shareLink { token } } } }""",
        {"p": gid("Playlist", p.id)},
        token=token,
    )
    t = share["data"]["sharePlaylist"]["shareLink"]["token"]
    assert (await gql(SHARE_LINK, {"token": t}))["data"]["shareLink"]["playlist"] is None
    stranger = await login_token(await make_user("stranger"))
    r = await gql(
        """mutation($p: ID!) { sharePlaylist(playlistId: $p) { __typename } }""",
        {"p": gid("Playlist", p.id)},
        token=stranger,
    )
    assert r["data"]["sharePlaylist"]["__typename"] == "NotFoundError"
    assert await ShareLink.all().count() == 1


async def test_public_playlists_are_searchable_private_ones_are_not(gql: GraphQLClient) -> None:
    owner = await make_user("owner")
    await playlist_of(owner, title="深夜の作業用 BGM", tags=["lofi"])
    await playlist_of(owner, title="深夜 secret", privacy="PRIVATE")
    q = """query($q: String!) { search(query: $q, types: [PLAYLIST]) { edges { node {
      ... on Playlist { title } } } } }"""
    found = await gql(q, {"q": "深夜"})
    assert [e["node"]["title"] for e in found["data"]["search"]["edges"]] == ["深夜の作業用 BGM"]
    by_tag = await gql(q, {"q": "lof"})
    assert len(by_tag["data"]["search"]["edges"]) == 1


UNSUBSCRIBE = """mutation($p: ID!) { unsubscribePlaylist(playlistId: $p) { __typename
  ... on SubscribePayload { playlist { title description subscriberCount } }
  ... on Error { code } } }"""


async def test_unsubscribe_never_shows_a_playlist_the_viewer_may_not_see(
    gql: GraphQLClient,
) -> None:
    from ncm.playlists import service

    alice, bob = await make_user("alice"), await make_user("bob")
    bob_token = await login_token(bob)
    secret = await playlist_of(alice, title="Diary", description="private notes", privacy="PRIVATE")
    r = (await gql(UNSUBSCRIBE, {"p": gid("Playlist", secret.id)}, token=bob_token))["data"]
    assert r["unsubscribePlaylist"] == {"__typename": "NotFoundError", "code": "NOT_FOUND"}
    # Saved while public, then made private: the save is dropped, and still nothing shows.
    mix = await playlist_of(alice, title="Mix")
    await service.subscribe(bob, mix.id)
    await service.update_playlist(alice, mix.id, privacy="PRIVATE")
    r = (await gql(UNSUBSCRIBE, {"p": gid("Playlist", mix.id)}, token=bob_token))["data"]
    assert r["unsubscribePlaylist"]["__typename"] == "NotFoundError"
    await mix.refresh_from_db()
    assert mix.subscriber_count == 0
    public = await playlist_of(alice, title="Open")
    await service.subscribe(bob, public.id)
    r = (await gql(UNSUBSCRIBE, {"p": gid("Playlist", public.id)}, token=bob_token))["data"]
    assert r["unsubscribePlaylist"]["playlist"]["subscriberCount"] == 0


async def test_a_share_is_credited_only_for_what_it_shares(gql: GraphQLClient) -> None:
    from ncm.playlists import entries, shares
    from ncm.playlists.models import ShareChannel
    from ncm.stream import plays

    sharer, fan = await make_user("sharer"), await make_user("fan")
    fan_token = await login_token(fan)
    ts = await tracks(3)
    track_share = await shares.share_track(sharer, ts[0].id, ShareChannel.WECHAT)
    mix = await playlist_of(sharer, title="Mix")
    await entries.add_tracks(sharer, mix.id, [ts[1].id])
    mix_share = await shares.share_playlist(sharer, mix.id, ShareChannel.LINK)
    other = await playlist_of(sharer, title="Other")
    # Another track, or a playlist, with a track's share: refused, nothing credited.
    wrong_like = await gql(
        LIKE, {"t": gid("Track", ts[1].id), "s": track_share.token}, token=fan_token
    )
    wrong_sub = await gql(
        SUBSCRIBE, {"p": gid("Playlist", other.id), "s": mix_share.token}, token=fan_token
    )
    for body, name in ((wrong_like, "likeTrack"), (wrong_sub, "subscribePlaylist")):
        assert body["data"][name] == {
            "__typename": "InvalidInputError",
            "code": "INVALID_INPUT",
            "field": "shareToken",
        }
    # A track of a shared playlist, and the shared playlist itself: credited.
    ok_like = await gql(LIKE, {"t": gid("Track", ts[1].id), "s": mix_share.token}, token=fan_token)
    ok_sub = await gql(
        SUBSCRIBE, {"p": gid("Playlist", mix.id), "s": mix_share.token}, token=fan_token
    )
    assert ok_like["data"]["likeTrack"]["liked"] is True
    assert ok_sub["data"]["subscribePlaylist"]["__typename"] == "SubscribePayload"
    await mix_share.refresh_from_db()
    await track_share.refresh_from_db()
    assert (mix_share.like_count, mix_share.subscription_count) == (1, 1)
    assert (track_share.like_count, track_share.subscription_count) == (0, 0)
    # Made private: its share credits nothing, and tells nothing of what it holds.
    from ncm.playlists import service

    await service.update_playlist(sharer, mix.id, privacy="PRIVATE")
    for track in (ts[1], ts[2]):  # in the playlist, and not: the same answer
        reported = await plays.report_play(
            fan,
            play_id=f"play-{track.id:08d}",
            track_id=track.id,
            started_at=datetime.now(UTC) - timedelta(minutes=5),
            seconds_played=40,
            share_token=mix_share.token,
        )
        assert reported.play.share_id is None


async def test_a_share_counts_the_likes_and_saves_it_brought_while_they_stand(
    gql: GraphQLClient,
) -> None:
    from ncm.playlists import shares
    from ncm.playlists.models import ShareChannel

    sharer, fan = await make_user("sharer"), await make_user("fan")
    fan_token = await login_token(fan)
    ts = await tracks(1)
    track_share = await shares.share_track(sharer, ts[0].id, ShareChannel.QQ)
    mix = await playlist_of(sharer, title="Mix")
    mix_share = await shares.share_playlist(sharer, mix.id, ShareChannel.QQ)
    for _ in range(3):  # like, unlike, like again ... each time through the share
        liked = await gql(
            LIKE, {"t": gid("Track", ts[0].id), "s": track_share.token}, token=fan_token
        )
        assert liked["data"]["likeTrack"]["liked"] is True
        await gql(UNLIKE, {"t": gid("Track", ts[0].id)}, token=fan_token)
        saved = await gql(
            SUBSCRIBE, {"p": gid("Playlist", mix.id), "s": mix_share.token}, token=fan_token
        )
        assert saved["data"]["subscribePlaylist"]["__typename"] == "SubscribePayload"
        await gql(UNSUBSCRIBE, {"p": gid("Playlist", mix.id)}, token=fan_token)
    await track_share.refresh_from_db()
    await mix_share.refresh_from_db()
    assert (track_share.like_count, mix_share.subscription_count) == (0, 0)
    await gql(LIKE, {"t": gid("Track", ts[0].id), "s": track_share.token}, token=fan_token)
    await gql(SUBSCRIBE, {"p": gid("Playlist", mix.id), "s": mix_share.token}, token=fan_token)
    await track_share.refresh_from_db()
    await mix_share.refresh_from_db()
    assert (track_share.like_count, mix_share.subscription_count) == (1, 1)
