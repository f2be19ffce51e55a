"""The orders (NEWEST, HOT, RECOMMENDED), keyset pages, hidden comments, query counts and
private playlists' threads."""

from __future__ import annotations

import gc
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ncm.accounts.models import Role
from ncm.accounts.tokens import read_access_token
from ncm.comments import moderation, ranking, service
from ncm.comments.models import Comment, CommentThread, TargetType
from ncm.comments.targets import ThreadRef
from ncm.config import get_settings
from ncm.playlists.models import Playlist, PlaylistCollaborator, Privacy
from ncm.schema.base import to_global_id
from ncm.schema.context import Context
from ncm.schema.schema import get_schema
from tests.comments.helpers import (
    PAGE,
    THREAD,
    bodies,
    comment_gid,
    page,
    post,
    thread_id,
    track_ref,
    user_and_token,
)
from tests.conftest import GraphQLClient, count_queries, make_user


async def add(ref: ThreadRef, author: Any, body: str, *, age: timedelta, likes: int = 0) -> Comment:
    """A top-level comment of a given age and like count (stored counters kept consistent:
    likes are counted by the rows' like_count only, which these page tests read)."""
    thread, _ = await CommentThread.get_or_create(
        target_type=ref.target_type, target_id=ref.target_id
    )
    created = service.now() - age
    return await Comment.create(
        thread=thread,
        author=author,
        body=body,
        created_at=created,
        like_count=likes,
        hot_score=ranking.hot_score(likes, 0, created),
    )


async def walk(
    gql: GraphQLClient, ref: ThreadRef, order: str, size: int, token: str | None = None
) -> list[str | None]:
    seen: list[str | None] = []
    after = None
    while True:
        conn = await page(gql, ref, order, first=size, after=after, token=token)
        seen += bodies(conn)
        if not conn["pageInfo"]["hasNextPage"]:
            return seen
        after = conn["pageInfo"]["endCursor"]


def test_hot_formula_trades_ten_times_the_likes_for_twelve_and_a_half_hours() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    older = now - timedelta(seconds=ranking.HOT_SECONDS_PER_DECADE)
    assert math.isclose(ranking.hot_score(100, 0, older), ranking.hot_score(10, 0, now))
    # Replies weigh twice a like; nothing engages less than one.
    assert ranking.hot_score(0, 5, now) == ranking.hot_score(10, 0, now)
    assert ranking.hot_score(0, 0, now) == ranking.hot_score(1, 0, now)
    assert ranking.hot_score(2, 0, now) > ranking.hot_score(1, 0, now)


async def test_newest_and_hot_orders_page_by_keyset(gql: GraphQLClient) -> None:
    ref = await track_ref()
    alice = await make_user("alice")
    # Ids and times disagree on purpose: NEWEST is by time, then id.
    spec = [("a", 5, 0), ("b", 1, 3), ("c", 30, 1000), ("d", 2, 40), ("e", 2, 40), ("f", 10, 9)]
    rows = [await add(ref, alice, b, age=timedelta(hours=h), likes=n) for b, h, n in spec]
    newest = [c.body for c in sorted(rows, key=lambda c: (c.created_at, c.id), reverse=True)]
    hot = [c.body for c in sorted(rows, key=lambda c: (c.hot_score, c.id), reverse=True)]
    assert newest != hot
    for size in (1, 2, 4, 100):
        assert await walk(gql, ref, "NEWEST", size) == newest
        assert await walk(gql, ref, "HOT", size) == hot


async def test_recommended_places_fresh_comments_and_pages_without_repeats(
    gql: GraphQLClient,
) -> None:
    ref = await track_ref()
    alice = await make_user("alice")
    for i in range(8):  # established, very liked
        await add(ref, alice, f"old{i}", age=timedelta(days=3), likes=10 ** (8 - i % 4) + i)
    for i in range(4):  # the newest four, no likes yet
        await add(ref, alice, f"new{i}", age=timedelta(minutes=10 + i))
    await add(ref, alice, "ancient", age=timedelta(days=400))
    whole = await walk(gql, ref, "RECOMMENDED", 100)
    # The three newest sit at positions 1, 4 and 7; the rest follow HOT exactly once.
    assert [whole[i] for i in ranking.FRESH_SLOTS] == ["new0", "new1", "new2"]
    rest = [b for i, b in enumerate(whole) if i not in ranking.FRESH_SLOTS]
    assert rest == [
        b for b in await walk(gql, ref, "HOT", 100) if b not in {"new0", "new1", "new2"}
    ]
    for size in (1, 2, 3, 5):
        assert await walk(gql, ref, "RECOMMENDED", size) == whole
    assert sorted(whole) == sorted(await walk(gql, ref, "NEWEST", 100))


async def test_recommended_with_few_hot_comments_still_lists_every_fresh_one(
    gql: GraphQLClient,
) -> None:
    ref = await track_ref()
    alice = await make_user("alice")
    await add(ref, alice, "old", age=timedelta(days=2), likes=10)
    for i in range(3):
        await add(ref, alice, f"new{i}", age=timedelta(minutes=i + 1))
    for size in (1, 2, 10):
        assert await walk(gql, ref, "RECOMMENDED", size) == ["old", "new0", "new1", "new2"]


async def test_hidden_comments_vanish_from_every_order(gql: GraphQLClient) -> None:
    ref = await track_ref()
    author, author_token = await user_and_token("alice")
    _, mod_token = await user_and_token("mod", Role.MODERATOR)
    _, bob_token = await user_and_token("bob")
    kept = await service.post_comment(author, ref, "kept")
    bad = await service.post_comment(author, ref, "bad")
    await moderation.hide(None, bad.id, "spam", operator="cli:test")
    for token in (None, bob_token, author_token, mod_token):
        for order in ("NEWEST", "HOT", "RECOMMENDED"):
            assert bodies(await page(gql, ref, order, token=token)) == ["kept"]
    # By id: its author and moderators still read it (marked hidden); others get null.
    query = "query($id: ID!) { comment(id: $id) { body hidden } }"
    for token, expected in (
        (author_token, {"body": "bad", "hidden": True}),
        (mod_token, {"body": "bad", "hidden": True}),
        (bob_token, None),
        (None, None),
    ):
        assert (await gql(query, {"id": comment_gid(bad)}, token=token))["data"]["comment"] == (
            expected
        )
    node = await gql("query($id: ID!) { node(id: $id) { id } }", {"id": comment_gid(bad)})
    assert node["data"]["node"] is None
    assert (await CommentThread.get()).comment_count == 1
    assert kept.id in {c.id for c in await Comment.filter(listed=True)}


async def test_page_costs_the_same_queries_for_one_or_twenty_comments(
    gql: GraphQLClient,
) -> None:
    ref = await track_ref()
    _, token = await user_and_token("viewer")
    authors = [await make_user(f"user{i}") for i in range(20)]
    rows = [await service.post_comment(a, ref, f"c{i}") for i, a in enumerate(authors)]
    for i, row in enumerate(rows[-5:]):  # the newest and hottest have replies and likes
        replier = await make_user(f"replier{i}")
        await service.post_comment(replier, ref, f"r{i}", reply_to_id=row.id)
        await service.like(authors[i], row.id)
    query = PAGE.replace(
        "author { handle }",
        "author { handle } parent { id } replies(first: 2) { edges {"
        " node { body author { handle } likedByViewer } } }",
    )
    counts = {}
    for order in ("NEWEST", "HOT", "RECOMMENDED"):
        for size in (1, 20):
            with count_queries() as counter:
                body = await gql(
                    query, {"thread": thread_id(ref), "order": order, "first": size}, token=token
                )
            assert len(body["data"]["comments"]["edges"]) == size
            counts[order, size] = counter.count
        assert counts[order, 1] == counts[order, 20], counts
    assert counts["NEWEST", 20] <= 9, counts


async def test_a_page_reads_its_authors_in_its_own_statement(gql: GraphQLClient) -> None:
    """An anonymous NEWEST or HOT page of a track's thread is one statement: the thread row,
    the comments and their authors' profiles. RECOMMENDED costs the thread and its fresh and
    its hot comments, each with their authors."""
    ref = await track_ref()
    writers = [await make_user(f"writer{i}") for i in range(3)]
    for i, writer in enumerate(writers):
        await service.post_comment(writer, ref, f"c{i}")
    for order, statements in (("NEWEST", 1), ("HOT", 1), ("RECOMMENDED", 3)):
        with count_queries() as counter:
            body = await gql(PAGE, {"thread": thread_id(ref), "order": order, "first": 20})
        edges = body["data"]["comments"]["edges"]
        assert {e["node"]["author"]["handle"] for e in edges} == {w.handle for w in writers}
        assert counter.count == statements, (order, counter.count)


@pytest.mark.parametrize("order", ["NEWEST", "HOT"])
async def test_one_statement_pages_keep_the_thread_rules(gql: GraphQLClient, order: str) -> None:
    """The one-statement page of a track's or an album's thread: paged to the end exactly;
    a target with no comments yet is an empty page; a target that does not exist is
    NOT_FOUND; a bad cursor is an input error."""
    from tests import factories

    album = await factories.album("A")
    writer = await make_user("writer")
    ref = ThreadRef(TargetType.ALBUM, album.id)
    for i in range(5):
        await service.post_comment(writer, ref, f"c{i}")
    seen: list[str] = []
    after = None
    while True:
        variables = {"thread": thread_id(ref), "order": order, "first": 2, "after": after}
        connection = (await gql(PAGE, variables))["data"]["comments"]
        seen += [e["node"]["body"] for e in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert sorted(seen) == [f"c{i}" for i in range(5)] and len(seen) == 5
    if order == "NEWEST":
        assert seen == [f"c{i}" for i in reversed(range(5))]
    quiet = await track_ref()
    empty = await gql(PAGE, {"thread": thread_id(quiet), "order": order})
    assert empty["data"]["comments"]["edges"] == []
    missing = ThreadRef(TargetType.TRACK, 10**12)
    body = await gql(PAGE, {"thread": thread_id(missing), "order": order}, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    bad = {"thread": thread_id(ref), "order": order, "after": "not-a-cursor"}
    body = await gql(PAGE, bad, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


@pytest.mark.skipif(
    not get_settings().fast_executor,
    reason="graphql-core's own executor (NCM_FAST_EXECUTOR=0) keeps a cycle per request",
)
async def test_a_page_leaves_nothing_for_the_cyclic_collector() -> None:
    """Everything a request builds is freed when it ends: no reference cycles in the
    executor, the context or the loaders (each made the whole request garbage that only a
    cyclic collection, a pause of tens of milliseconds under load, could free)."""
    ref = await track_ref()
    viewer, token = await user_and_token("viewer")
    for i in range(5):
        row = await service.post_comment(await make_user(f"user{i}"), ref, f"c{i}")
        await service.like(viewer, row.id)
    schema, claims = get_schema(), read_access_token(token)
    query = PAGE.replace("likedByViewer", "likedByViewer thread { commentCount }")

    async def one_page() -> None:
        context = Context(
            request=None, response=None, claims=claims, client_ip="test", user_agent="test"
        )
        result = await schema.execute(query, {"thread": thread_id(ref)}, context_value=context)
        assert result.errors is None and result.data is not None
        assert len(result.data["comments"]["edges"]) == 5

    await one_page()  # warms the parser and validation caches
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(3):
            await one_page()
        gc.collect()
        ours = [
            type(o).__qualname__
            for o in gc.garbage
            if type(o).__module__.split(".")[0] in ("ncm", "graphql", "strawberry")
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert ours == []


async def test_bad_cursors_and_sizes_are_input_errors(gql: GraphQLClient) -> None:
    ref = await track_ref()
    alice = await make_user("alice")
    await service.post_comment(alice, ref, "x")
    hot_cursor = (await page(gql, ref, "HOT"))["pageInfo"]["endCursor"]
    for order, after in (("NEWEST", "!!"), ("NEWEST", hot_cursor), ("RECOMMENDED", hot_cursor)):
        body = await gql(
            PAGE, {"thread": thread_id(ref), "order": order, "after": after}, expect_errors=True
        )
        assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT", (order, body)
    body = await gql(PAGE, {"thread": thread_id(ref), "first": 101}, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_empty_thread_has_an_id_before_its_first_comment(gql: GraphQLClient) -> None:
    ref = await track_ref()
    thread = (await gql(THREAD, {"target": to_global_id("Track", ref.target_id)}))["data"]
    assert thread["commentThread"] == {
        "id": thread_id(ref),
        "targetType": "TRACK",
        "targetId": to_global_id("Track", ref.target_id),
        "commentCount": 0,
    }
    assert (await page(gql, ref))["edges"] == []
    missing = await gql(THREAD, {"target": to_global_id("Track", 999_999)})
    assert missing["data"]["commentThread"] is None
    wrong = await gql(THREAD, {"target": to_global_id("User", 1)}, expect_errors=True)
    assert wrong["errors"][0]["extensions"]["code"] == "INVALID_ID"


@pytest.mark.parametrize("deleted", [False, True])
async def test_private_playlist_thread_is_not_found_for_others(
    gql: GraphQLClient, deleted: bool
) -> None:
    owner, owner_token = await user_and_token("owner")
    friend, friend_token = await user_and_token("friend")
    _, stranger_token = await user_and_token("stranger")
    playlist = await Playlist.create(owner=owner, title="secret", privacy=Privacy.PRIVATE)
    await PlaylistCollaborator.create(playlist=playlist, user=friend)
    ref = ThreadRef(TargetType.PLAYLIST, playlist.id)
    assert (await post(gql, owner_token, ref, "mine"))["__typename"] == "CommentPayload"
    assert (await post(gql, friend_token, ref, "ours"))["__typename"] == "CommentPayload"
    target = {"target": to_global_id("Playlist", playlist.id)}
    assert (await gql(THREAD, target, token=friend_token))["data"]["commentThread"][
        "commentCount"
    ] == 2
    if deleted:
        await Playlist.filter(id=playlist.id).update(
            privacy=Privacy.PUBLIC, deleted_at=service.now()
        )
    for token in (stranger_token, None):
        assert (await gql(THREAD, target, token=token))["data"]["commentThread"] is None
        body = await gql(PAGE, {"thread": thread_id(ref)}, token=token, expect_errors=True)
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    refused = await post(gql, stranger_token, ref, "let me in")
    assert refused["__typename"] == "NotFoundError"
    assert (await Playlist.get(id=playlist.id)).comment_count == 2
