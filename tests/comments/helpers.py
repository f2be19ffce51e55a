"""Shared documents and builders for the comment tests."""

from __future__ import annotations

from typing import Any

from ncm.accounts.models import Role
from ncm.comments.models import Comment, TargetType
from ncm.comments.targets import ThreadRef
from ncm.schema.base import to_global_id
from tests import factories
from tests.conftest import GraphQLClient, login_token, make_user

COMMENT_FIELDS = """id body deleted hidden likeCount replyCount likedByViewer createdAt editedAt
  author { handle }"""
PAGE = f"""query($thread: ID!, $order: CommentOrder, $first: Int, $after: String) {{
  comments(threadId: $thread, order: $order, first: $first, after: $after) {{
    edges {{ cursor node {{ {COMMENT_FIELDS} }} }}
    pageInfo {{ hasNextPage endCursor }} }} }}"""
THREAD = """query($target: ID!) { commentThread(targetId: $target) { id targetType targetId
  commentCount } }"""
POST = f"""mutation($input: PostCommentInput!) {{ postComment(input: $input) {{ __typename
  ... on CommentPayload {{ comment {{ {COMMENT_FIELDS} parent {{ id }} replyTo {{ id }} }} }}
  ... on RateLimitedError {{ retryAfterSeconds }}
  ... on CommentBannedError {{ bannedUntil }}
  ... on Error {{ code message field }} }} }}"""


def thread_id(ref: ThreadRef) -> str:
    return str(to_global_id("CommentThread", ref.key))


def comment_gid(comment: Comment | int) -> str:
    pk = comment if isinstance(comment, int) else comment.id
    return str(to_global_id("Comment", pk))


async def track_ref() -> ThreadRef:
    track = await factories.track()
    return ThreadRef(TargetType.TRACK, track.id)


async def user_and_token(handle: str, role: Role | None = None) -> tuple[Any, str]:
    user = await make_user(handle, role=role)
    return user, await login_token(user)


async def post(
    gql: GraphQLClient, token: str, ref: ThreadRef, body: str, reply_to: Comment | int | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {"threadId": thread_id(ref), "body": body}
    if reply_to is not None:
        data["replyToId"] = comment_gid(reply_to)
    result: dict[str, Any] = (await gql(POST, {"input": data}, token=token))["data"]["postComment"]
    return result


async def page(
    gql: GraphQLClient,
    ref: ThreadRef,
    order: str = "NEWEST",
    *,
    first: int | None = None,
    after: str | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    body = await gql(
        PAGE,
        {"thread": thread_id(ref), "order": order, "first": first, "after": after},
        token=token,
    )
    result: dict[str, Any] = body["data"]["comments"]
    return result


def bodies(conn: dict[str, Any]) -> list[str | None]:
    return [e["node"]["body"] for e in conn["edges"]]
