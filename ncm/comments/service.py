"""Comments: post, reply, edit, delete, like, and what a viewer may read.

Visibility: a comment is readable when the viewer may see its thread's target (a private
playlist's thread is "not found" for others) and it is not hidden -- except for its author
and moderators, who still read a hidden comment by id (never in the lists). Deleted ones
read as placeholders. Every write keeps the stored counters exact (see counters) and
publishes new comments for live subscribers after the transaction commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from ncm.accounts.models import Role, User
from ncm.accounts.permissions import require_viewer
from ncm.accounts.service import Profile
from ncm.comments import counters, live, ranking
from ncm.comments.errors import (
    CommentBanned,
    CommentsErrorCode,
    duplicate_comment,
    edit_window_closed,
)
from ncm.comments.models import Comment, CommentLike, CommentState, TargetType
from ncm.comments.pages import replies_page, top_level_page
from ncm.comments.ranking import CommentOrder
from ncm.comments.sql import fetch_comments
from ncm.comments.targets import ThreadRef, require_visible, threads_by_ids, visible_refs
from ncm.comments.text import clean_body
from ncm.config import get_settings
from ncm.errors import Conflict, Forbidden, InvalidInput, NotFound
from ncm.kit import ratelimit
from ncm.kit.locks import lock_for_transaction
from ncm.kit.pagination import Page
from ncm.kit.sql import any_of, as_datetime, by_id, fetch

EDIT_WINDOW = timedelta(minutes=10)
RATE_WINDOW_SECONDS = 60


def now() -> datetime:
    return datetime.now(UTC)


def is_moderator(user: User | None) -> bool:
    return user is not None and user.role in (Role.MODERATOR, Role.ADMIN)


def can_read_hidden(viewer: User | None, comment: Comment) -> bool:
    return is_moderator(viewer) or (viewer is not None and viewer.id == comment.author_id)


def comment_not_found(field: str = "commentId") -> NotFound:
    return NotFound("No such comment.", field=field)


# Reading


async def thread_page(
    thread_id: int | None,
    order: CommentOrder,
    first: int | None,
    after: str | None,
    *,
    authors: dict[int, Profile] | None = None,
) -> Page[Comment]:
    """A page of a thread's top-level comments; ``thread_id`` None is a thread with none yet.
    The caller has checked the viewer may see the thread. With ``authors``, the authors'
    public profiles are read in the same statement and put there."""
    return await top_level_page(thread_id, order, first, after, now=now(), authors=authors)


async def replies(parent_id: int, first: int | None, after: str | None) -> Page[Comment]:
    return await replies_page(parent_id, first, after)


async def comment_for(viewer: User | None, comment_id: int, *, field: str = "id") -> Comment:
    """The comment if this viewer may read it (hidden: author and moderators only)."""
    comment = await Comment.get_or_none(id=comment_id)
    if comment is None:
        raise comment_not_found(field)
    if comment.state == CommentState.HIDDEN and not can_read_hidden(viewer, comment):
        raise comment_not_found(field)
    thread = (await threads_by_ids([comment.thread_id]))[comment.thread_id]
    if ThreadRef.of(thread) not in await visible_refs(viewer, [ThreadRef.of(thread)]):
        raise comment_not_found(field)
    return comment


async def actionable_comment(viewer: User, comment_id: int) -> Comment:
    """A comment others can see and act on (like, reply to, report): visible, not hidden."""
    comment = await comment_for(viewer, comment_id, field="commentId")
    if comment.state != CommentState.VISIBLE:
        raise comment_not_found()
    return comment


async def comments_by_ids(ids: Sequence[int]) -> dict[int, Comment]:
    return await by_id(Comment, ids)


async def liked_states(user_id: int, comment_ids: Sequence[int]) -> dict[int, bool]:
    """Whether the user likes each of these comments (one query for a whole page)."""
    where, params = any_of("comment_id", comment_ids, 2)
    rows = await fetch(
        f"SELECT comment_id FROM comment_likes WHERE user_id = $1 AND {where}", [user_id, *params]
    )
    liked = {r["comment_id"] for r in rows}
    return {i: i in liked for i in comment_ids}


# Posting


async def ban_end(user_id: int) -> datetime | None:
    """When the user's running comment ban ends (None when not banned)."""
    rows = await fetch(
        "SELECT ends_at FROM comment_bans WHERE user_id = $1 AND lifted_at IS NULL"
        " AND ends_at > $2 ORDER BY ends_at DESC LIMIT 1",
        [user_id, now()],
    )
    return as_datetime(rows[0]["ends_at"]) if rows else None


async def _check_rate(user: User) -> None:
    limit = get_settings().comment_rate_per_minute
    await ratelimit.enforce(
        f"comment:post:{user.id}",
        limit,
        RATE_WINDOW_SECONDS,
        f"You can post {limit} comments a minute; wait a little.",
    )


async def _reply_target(ref: ThreadRef, viewer: User, reply_to_id: int) -> tuple[int, int]:
    """``(parent id, replied-to id)``: replies hang off the top-level comment of the floor."""
    answered = await actionable_comment(viewer, reply_to_id)
    thread = (await threads_by_ids([answered.thread_id]))[answered.thread_id]
    if ThreadRef.of(thread) != ref:
        raise InvalidInput(
            "That comment is in another thread.",
            field="replyToId",
            code=CommentsErrorCode.WRONG_THREAD,
        )
    return answered.parent_id or answered.id, answered.id


async def _lock_author(conn: BaseDBAsyncClient, user_id: int) -> None:
    # One post at a time per author, so the duplicate check cannot be raced.
    await lock_for_transaction(conn, "ncm.comments.post", user_id)


async def _thread_and_last_body(
    conn: BaseDBAsyncClient, ref: ThreadRef, author: User
) -> tuple[int, str | None]:
    """The thread's id (creating its row on the first comment, once the target is known to
    exist) and the author's last text in it: one round trip when the thread exists."""
    rows = await fetch(
        "SELECT t.id, (SELECT c.body FROM comments c WHERE c.author_id = $1"
        " AND c.thread_id = t.id ORDER BY c.id DESC LIMIT 1) AS last_body"
        " FROM comment_threads t WHERE t.target_type = $2 AND t.target_id = $3",
        [author.id, ref.target_type.value, ref.target_id],
        conn,
    )
    if rows:
        return int(rows[0]["id"]), rows[0]["last_body"]
    await require_visible(author, ref)
    rows = await fetch(
        "INSERT INTO comment_threads (target_type, target_id, comment_count, created_at)"
        " VALUES ($1, $2, 0, $3) ON CONFLICT (target_type, target_id)"
        " DO UPDATE SET comment_count = comment_threads.comment_count RETURNING id",
        [ref.target_type.value, ref.target_id, now()],
        conn,
    )
    return int(rows[0]["id"]), None


_INSERT = (
    "INSERT INTO comments (thread_id, author_id, parent_id, reply_to_id, body, state, listed,"
    " like_count, reply_count, hot_score, created_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, $8, $9) RETURNING *"
)


async def post_comment(
    actor: User | None, ref: ThreadRef, body: str, *, reply_to_id: int | None = None
) -> Comment:
    """Post on a thread (a reply when ``reply_to_id`` names a comment of it)."""
    user = require_viewer(actor)
    text = clean_body(body)
    if ref.target_type == TargetType.PLAYLIST:
        # Tracks and albums are public: their thread row proves they exist (checked below).
        await require_visible(user, ref)
    banned_until = await ban_end(user.id)
    if banned_until is not None:
        raise CommentBanned(banned_until)
    parent_id, answered_id = (
        await _reply_target(ref, user, reply_to_id) if reply_to_id is not None else (None, None)
    )
    await _check_rate(user)
    created = now()
    async with in_transaction() as conn:
        await _lock_author(conn, user.id)
        thread_id, last_body = await _thread_and_last_body(conn, ref, user)
        if last_body == text:
            raise duplicate_comment()
        params = [
            thread_id,
            user.id,
            parent_id,
            answered_id,
            text,
            CommentState.VISIBLE.value,
            True,
            ranking.hot_score(0, 0, created),
            created,
        ]
        comment = (await fetch_comments(_INSERT, params, conn))[0]
        row = counters.CommentRow(comment.id, thread_id, parent_id, CommentState.VISIBLE, 0, 0)
        await counters.count_visible(conn, row, +1)
    await live.publish_added(ref, comment.id)
    return comment


# Changing one's own


async def _own(actor: User | None, comment_id: int) -> tuple[User, Comment]:
    user = require_viewer(actor)
    comment = await comment_for(user, comment_id, field="commentId")
    if comment.author_id != user.id:
        raise Forbidden("Only its author may change a comment.")
    return user, comment


async def edit_comment(actor: User | None, comment_id: int, body: str) -> Comment:
    """Authors fix their text within :data:`EDIT_WINDOW` of posting; not while banned from
    commenting, and not once a moderator has hidden it (its text is under review)."""
    user, comment = await _own(actor, comment_id)
    if comment.state == CommentState.DELETED:
        raise comment_not_found()
    if comment.state == CommentState.HIDDEN:
        raise Conflict(
            "A comment hidden by a moderator cannot be edited.",
            field="commentId",
            code=CommentsErrorCode.COMMENT_HIDDEN,
        )
    banned_until = await ban_end(user.id)
    if banned_until is not None:
        raise CommentBanned(banned_until)
    text = clean_body(body)
    minutes = int(EDIT_WINDOW.total_seconds() // 60)
    if now() - comment.created_at > EDIT_WINDOW:
        raise edit_window_closed(minutes)
    updated = await Comment.filter(
        id=comment.id, state=CommentState.VISIBLE, created_at__gte=now() - EDIT_WINDOW
    ).update(body=text, edited_at=now())
    if not updated:
        raise edit_window_closed(minutes)
    await comment.refresh_from_db()
    return comment


async def delete_comment(actor: User | None, comment_id: int) -> Comment:
    """Soft delete: the text goes from every answer, the floor's replies stay."""
    _, comment = await _own(actor, comment_id)
    async with in_transaction() as conn:
        for was in (CommentState.VISIBLE, CommentState.HIDDEN):
            row = await counters.update_comment(
                conn,
                comment.id,
                state=CommentState.DELETED,
                when_state=was,
                stamp=("deleted_at", now()),
            )
            if row is not None:
                if was == CommentState.VISIBLE:
                    await counters.count_visible(conn, row, -1)
                break
    await comment.refresh_from_db()
    return comment


# Likes


async def like(actor: User | None, comment_id: int) -> Comment:
    """Like a comment; liking twice changes nothing."""
    user = require_viewer(actor)
    comment = await actionable_comment(user, comment_id)
    async with in_transaction() as conn:
        rows = await fetch(
            "INSERT INTO comment_likes (user_id, comment_id, created_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (user_id, comment_id) DO NOTHING RETURNING id",
            [user.id, comment.id, now()],
            conn,
        )
        if rows:
            await counters.update_comment(conn, comment.id, likes=+1)
    await comment.refresh_from_db()
    return comment


async def unlike(actor: User | None, comment_id: int) -> Comment:
    user = require_viewer(actor)
    comment = await actionable_comment(user, comment_id)
    async with in_transaction() as conn:
        deleted = (
            await CommentLike.filter(user_id=user.id, comment_id=comment.id).using_db(conn).delete()
        )
        if deleted:
            await counters.update_comment(conn, comment.id, likes=-1)
    await comment.refresh_from_db()
    return comment
