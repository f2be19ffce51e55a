"""Comment ids are global ids that ``node(id)`` resolves (Comment implements Node), and a
target's id given as a thread id says how to get the thread's id. Issue 19, item 10."""

from __future__ import annotations

from ncm.accounts.models import Role
from ncm.comments import moderation
from ncm.schema.base import from_global_id, to_global_id
from tests.comments.helpers import PAGE, POST, post, track_ref, user_and_token
from tests.conftest import GraphQLClient, count_queries

NODE = """query($id: ID!) { node(id: $id) { __typename id
  ... on Comment { body hidden author { handle } thread { id } } } }"""
NODES = """query($a: ID!, $b: ID!, $c: ID!) { a: node(id: $a) { id ... on Comment { body } }
  b: node(id: $b) { id ... on Comment { body } } c: node(id: $c) { id ... on Comment { body } } }"""


async def test_node_resolves_a_comment_as_comment_does(gql: GraphQLClient) -> None:
    ref = await track_ref()
    _, token = await user_and_token("alice")
    posted = (await post(gql, token, ref, "first!"))["comment"]
    found = (await gql(NODE, {"id": posted["id"]}))["data"]["node"]
    assert found["__typename"] == "Comment"
    assert (found["id"], found["body"], found["author"]) == (
        posted["id"],
        "first!",
        {"handle": "alice"},
    )
    by_field = await gql("query($id: ID!) { comment(id: $id) { id body } }", {"id": posted["id"]})
    assert by_field["data"]["comment"] == {"id": posted["id"], "body": "first!"}
    missing = to_global_id("Comment", 987654)
    assert (await gql(NODE, {"id": missing}))["data"]["node"] is None

    # Hidden: null for others, shown to its author (as comment(id) does).
    mod, _ = await user_and_token("mod", Role.MODERATOR)
    await moderation.hide(mod, from_global_id(posted["id"])[1], "spam")
    assert (await gql(NODE, {"id": posted["id"]}))["data"]["node"] is None
    mine = (await gql(NODE, {"id": posted["id"]}, token=token))["data"]["node"]
    assert (mine["hidden"], mine["body"]) == (True, "first!")


async def test_nodes_of_comments_load_in_batches(gql: GraphQLClient) -> None:
    ref = await track_ref()
    _, token = await user_and_token("bob")
    ids = [(await post(gql, token, ref, f"c{i}"))["comment"]["id"] for i in range(3)]
    with count_queries() as one:
        body = await gql(NODES, {"a": ids[0], "b": ids[1], "c": ids[2]})
    assert [body["data"][k]["body"] for k in "abc"] == ["c0", "c1", "c2"]
    with count_queries() as single:
        await gql(NODE.replace("author { handle } thread { id }", ""), {"id": ids[0]})
    assert one.count == single.count  # three comments, the same queries as one


async def test_a_track_id_as_thread_id_points_to_comment_thread(gql: GraphQLClient) -> None:
    ref = await track_ref()
    track_id = to_global_id("Track", ref.target_id)
    body = await gql(PAGE, {"thread": track_id}, expect_errors=True)
    error = body["errors"][0]
    assert error["extensions"]["code"] == "INVALID_ID"
    assert "is a Track, not a CommentThread" in error["message"]
    assert "commentThread(targetId:" in error["message"]
    _, token = await user_and_token("carol")
    posted = await gql(POST, {"input": {"threadId": track_id, "body": "hi"}}, token=token)
    result = posted["data"]["postComment"]
    assert (result["__typename"], result["code"], result["field"]) == (
        "InvalidInputError",
        "INVALID_ID",
        "threadId",
    )
    assert "commentThread(targetId:" in result["message"]
