"""Live updates: new comments fan out to subscribers of their thread in every process.

The message names the comment only; each subscriber reloads it and checks, at delivery
time, that its viewer may see it (a hidden comment, or a playlist made private since the
subscription started, never reaches them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ncm.accounts.models import User
from ncm.comments.models import Comment, CommentState
from ncm.comments.targets import ThreadRef, visible_refs
from ncm.kit import pubsub


def channel(ref: ThreadRef) -> str:
    return f"comments:{ref.key}"


async def publish_added(ref: ThreadRef, comment_id: int) -> None:
    """Call after the posting transaction committed."""
    await pubsub.publish(channel(ref), {"comment_id": comment_id})


async def visible_added(viewer: User | None, ref: ThreadRef, comment_id: int) -> Comment | None:
    """A just-posted comment, if this viewer may see it in this thread now (live updates)."""
    comment = await Comment.get_or_none(id=comment_id).select_related("thread")
    if comment is None or comment.state != CommentState.VISIBLE:
        return None
    if ThreadRef.of(comment.thread) != ref or ref not in await visible_refs(viewer, [ref]):
        return None
    return comment


async def comments_added(viewer: User | None, ref: ThreadRef) -> AsyncIterator[Comment]:
    """New comments of the thread this viewer may see, as they are posted (the caller has
    checked the viewer may see the thread)."""
    async with pubsub.subscribe(channel(ref)) as messages:
        async for message in messages:
            comment_id = message.get("comment_id")
            if not isinstance(comment_id, int):
                continue
            comment = await visible_added(viewer, ref, comment_id)
            if comment is not None:
                yield comment
