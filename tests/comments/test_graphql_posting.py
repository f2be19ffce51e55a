"""Posting, replying, editing, deleting and liking, through the GraphQL API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ncm.catalog.models import Track
from ncm.comments import service
from ncm.comments.models import Comment, CommentThread
from ncm.schema.base import from_global_id, to_global_id
from tests.comments.helpers import (
    comment_gid,
    page,
    post,
    thread_id,
    track_ref,
    user_and_token,
)
from tests.conftest import GraphQLClient

ACTION = """mutation($id: ID!) { %s(commentId: $id) { __typename
  ... on CommentPayload { comment { body deleted likeCount likedByViewer author { handle } } }
  ... on Error { code field } } }"""
EDIT = """mutation($id: ID!, $body: String!) { editComment(commentId: $id, body: $body) {
  __typename ... on CommentPayload { comment { body editedAt } } ... on Error { code } } }"""


def pk(global_id: str) -> int:
    return from_global_id(global_id)[1]


async def test_post_cleans_text_and_counts_on_thread_and_track(gql: GraphQLClient) -> None:
    ref = await track_ref()
    _, token = await user_and_token("alice")
    text = "  第一！\u0007 Ça va? 👨‍👩‍👧 مرحبا\u202e \r\n\n\n\nnext  "  # noqa: RUF001
    result = await post(gql, token, ref, text)
    assert result["__typename"] == "CommentPayload"
    # Control characters and bidi overrides go; scripts, emoji (with ZWJ) and one blank line stay.
    assert result["comment"]["body"] == "第一！ Ça va? 👨‍👩‍👧 مرحبا \n\nnext"  # noqa: RUF001
    assert result["comment"]["author"] == {"handle": "alice"}
    thread = (
        await gql(
            "query($t: ID!) { commentThread(targetId: $t) { id commentCount targetType } }",
            {"t": to_global_id("Track", ref.target_id)},
        )
    )["data"]["commentThread"]
    assert thread == {"id": thread_id(ref), "commentCount": 1, "targetType": "TRACK"}
    assert (await Track.get(id=ref.target_id)).comment_count == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [(" \n\t\u0000 ", "EMPTY_COMMENT"), ("字" * 1001, "COMMENT_TOO_LONG")],
)
async def test_empty_and_too_long_are_typed_errors(
    gql: GraphQLClient, body: str, code: str
) -> None:
    ref = await track_ref()
    _, token = await user_and_token("alice")
    result = await post(gql, token, ref, body)
    assert (result["__typename"], result["code"], result["field"]) == (
        "InvalidInputError",
        code,
        "body",
    )
    assert await Comment.all().count() == 0
    assert (await post(gql, token, ref, "字" * 1000))["__typename"] == "CommentPayload"


async def test_same_text_twice_in_a_row_is_rejected(gql: GraphQLClient) -> None:
    ref, other = await track_ref(), await track_ref()
    _, token = await user_and_token("alice")
    assert (await post(gql, token, ref, "nice"))["__typename"] == "CommentPayload"
    again = await post(gql, token, ref, " nice ")
    assert (again["__typename"], again["code"]) == ("ConflictError", "DUPLICATE_COMMENT")
    # Elsewhere, or after something else, the same words are fine.
    assert (await post(gql, token, other, "nice"))["__typename"] == "CommentPayload"
    assert (await post(gql, token, ref, "other"))["__typename"] == "CommentPayload"
    assert (await post(gql, token, ref, "nice"))["__typename"] == "CommentPayload"


async def test_posting_needs_login_and_a_real_thread(gql: GraphQLClient) -> None:
    ref = await track_ref()
    anonymous = await gql(
        "mutation($i: PostCommentInput!) { postComment(input: $i) { __typename } }",
        {"i": {"threadId": thread_id(ref), "body": "hi"}},
        expect_errors=True,
    )
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    _, token = await user_and_token("alice")
    from ncm.comments.models import TargetType
    from ncm.comments.targets import ThreadRef

    missing = await post(gql, token, ThreadRef(TargetType.TRACK, 999_999), "hi")
    assert (missing["__typename"], missing["field"]) == ("NotFoundError", "threadId")
    bad = (
        await gql(
            "mutation($i: PostCommentInput!) { postComment(input: $i) { ... on Error { code } } }",
            {"i": {"threadId": to_global_id("Track", ref.target_id), "body": "hi"}},
            token=token,
        )
    )["data"]["postComment"]
    assert bad == {"code": "INVALID_ID"}


async def test_replies_form_one_level_of_floors(gql: GraphQLClient) -> None:
    ref = await track_ref()
    _, alice = await user_and_token("alice")
    _, bob = await user_and_token("bob")
    top = await post(gql, alice, ref, "top")
    first = await post(gql, bob, ref, "reply", reply_to=pk(top["comment"]["id"]))
    # Answering a reply stays in the same floor and names the reply answered.
    second = await post(gql, alice, ref, "answer", reply_to=pk(first["comment"]["id"]))
    assert second["comment"]["parent"] == {"id": top["comment"]["id"]}
    assert second["comment"]["replyTo"] == {"id": first["comment"]["id"]}
    listed = await page(gql, ref)
    assert [e["node"]["body"] for e in listed["edges"]] == ["top"]
    assert listed["edges"][0]["node"]["replyCount"] == 2
    floor = (
        await gql(
            "query($id: ID!) { comment(id: $id) { replies(first: 1) { edges { node { body } }"
            " pageInfo { hasNextPage endCursor } } } }",
            {"id": top["comment"]["id"]},
        )
    )["data"]["comment"]["replies"]
    assert [e["node"]["body"] for e in floor["edges"]] == ["reply"]
    rest = (
        await gql(
            "query($id: ID!, $a: String) { comment(id: $id) { replies(first: 5, after: $a) {"
            " edges { node { body } } pageInfo { hasNextPage } } } }",
            {"id": top["comment"]["id"], "a": floor["pageInfo"]["endCursor"]},
        )
    )["data"]["comment"]["replies"]
    assert [e["node"]["body"] for e in rest["edges"]] == ["answer"]
    assert rest["pageInfo"]["hasNextPage"] is False
    thread = await CommentThread.get()
    assert thread.comment_count == 3
    other = await track_ref()
    wrong = await post(gql, alice, other, "x", reply_to=pk(top["comment"]["id"]))
    assert (wrong["__typename"], wrong["code"]) == ("InvalidInputError", "WRONG_THREAD")


async def test_edit_window_and_author_only(gql: GraphQLClient) -> None:
    ref = await track_ref()
    _, alice = await user_and_token("alice")
    _, bob = await user_and_token("bob")
    posted = await post(gql, alice, ref, "typo")
    gid = posted["comment"]["id"]
    edited = (await gql(EDIT, {"id": gid, "body": "fixed"}, token=alice))["data"]["editComment"]
    assert edited["comment"]["body"] == "fixed" and edited["comment"]["editedAt"]
    other = await gql(EDIT, {"id": gid, "body": "mine now"}, token=bob, expect_errors=True)
    assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    await Comment.filter(id=pk(gid)).update(
        created_at=service.now() - service.EDIT_WINDOW - timedelta(seconds=1)
    )
    late = (await gql(EDIT, {"id": gid, "body": "too late"}, token=alice))["data"]
    assert late["editComment"] == {"__typename": "ConflictError", "code": "EDIT_WINDOW_CLOSED"}
    assert (await Comment.get(id=pk(gid))).body == "fixed"


async def test_delete_keeps_the_floor_as_a_placeholder(gql: GraphQLClient) -> None:
    ref = await track_ref()
    _, alice = await user_and_token("alice")
    _, bob = await user_and_token("bob")
    top = await post(gql, alice, ref, "top")
    lonely = await post(gql, alice, ref, "lonely")
    reply = await post(gql, bob, ref, "reply", reply_to=pk(top["comment"]["id"]))
    forbidden = await gql(
        ACTION % "deleteComment", {"id": top["comment"]["id"]}, token=bob, expect_errors=True
    )
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    for gid in (top["comment"]["id"], lonely["comment"]["id"]):
        done = (await gql(ACTION % "deleteComment", {"id": gid}, token=alice))["data"]
        assert done["deleteComment"]["comment"] == {
            "body": None,
            "deleted": True,
            "likeCount": 0,
            "likedByViewer": False,
            "author": None,
        }
    for order in ("NEWEST", "HOT", "RECOMMENDED"):
        # The floor with a reply stays as a placeholder; the one without vanishes.
        nodes = [e["node"] for e in (await page(gql, ref, order))["edges"]]
        assert [(n["id"], n["body"], n["deleted"]) for n in nodes] == [
            (top["comment"]["id"], None, True)
        ]
    assert (await CommentThread.get()).comment_count == 1  # only the reply is visible
    # Deleting the last reply removes the placeholder too.
    await gql(ACTION % "deleteComment", {"id": reply["comment"]["id"]}, token=bob)
    assert (await page(gql, ref))["edges"] == []
    assert (await Track.get(id=ref.target_id)).comment_count == 0


async def test_like_unlike_idempotent_with_liked_by_viewer(gql: GraphQLClient) -> None:
    ref = await track_ref()
    _, alice = await user_and_token("alice")
    _, bob = await user_and_token("bob")
    _, carol = await user_and_token("carol")
    gid = (await post(gql, alice, ref, "like me"))["comment"]["id"]
    before = (await page(gql, ref, "HOT", token=bob))["edges"][0]["cursor"]
    for _ in range(2):
        r = (await gql(ACTION % "likeComment", {"id": gid}, token=bob))["data"]["likeComment"]
        assert (r["comment"]["likeCount"], r["comment"]["likedByViewer"]) == (1, True)
    await gql(ACTION % "likeComment", {"id": gid}, token=carol)
    seen_by_alice = (await page(gql, ref, token=alice))["edges"][0]["node"]
    assert (seen_by_alice["likeCount"], seen_by_alice["likedByViewer"]) == (2, False)
    # Two likes raised the stored HOT score (the cursor is the score and the id).
    assert (await page(gql, ref, "HOT", token=bob))["edges"][0]["cursor"] != before
    for token in (bob, bob, carol):
        r = (await gql(ACTION % "unlikeComment", {"id": gid}, token=token))["data"]
        assert r["unlikeComment"]["comment"]["likedByViewer"] is False
    assert (await Comment.get(id=pk(gid))).like_count == 0
    assert (await page(gql, ref, "HOT", token=bob))["edges"][0]["cursor"] == before
    ghost = (await gql(ACTION % "likeComment", {"id": comment_gid(999)}, token=bob))["data"]
    assert ghost["likeComment"] == {
        "__typename": "NotFoundError",
        "code": "NOT_FOUND",
        "field": "commentId",
    }
