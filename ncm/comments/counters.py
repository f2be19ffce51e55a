"""Stored counters, updated inside the caller's transaction, and their audit.

Every counter moves with ``x = x + d`` in the transaction that changes what it counts:
likes per comment, visible replies per comment, visible comments per thread and the
target's own ``comment_count``. A comment's ``hot_score`` and ``listed`` follow its counts
in the same transaction. Rows are always locked in one order -- the comment, its parent,
the thread, the target -- so concurrent changes cannot deadlock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from ncm.comments import ranking
from ncm.comments.models import CommentState
from ncm.comments.targets import TARGET_MODELS
from ncm.errors import NoSuch
from ncm.kit.sql import as_datetime, fetch


@dataclass(frozen=True)
class CommentRow:
    id: int
    thread_id: int
    parent_id: int | None
    state: CommentState
    like_count: int
    reply_count: int


async def update_comment(
    conn: BaseDBAsyncClient,
    comment_id: int,
    *,
    likes: int = 0,
    replies: int = 0,
    state: CommentState | None = None,
    when_state: CommentState | None = None,
    stamp: tuple[str, datetime | None] | None = None,
) -> CommentRow | None:
    """Add to the counts and/or move the state (only from ``when_state``), then bring the
    score and ``listed`` in step. ``None`` when no row matched."""
    sets = ["like_count = like_count + $1", "reply_count = reply_count + $2"]
    params: list[object] = [likes, replies]
    if state is not None:
        sets.append("state = $3")
        params.append(state.value)
    if stamp is not None:
        sets.append(f"{stamp[0]} = ${len(params) + 1}")
        params.append(stamp[1])
    where = f"id = ${len(params) + 1}"
    params.append(comment_id)
    if when_state is not None:
        where += f" AND state = ${len(params) + 1}"
        params.append(when_state.value)
    rows = await fetch(
        f"UPDATE comments SET {', '.join(sets)} WHERE {where} RETURNING id, thread_id,"
        " parent_id, state, like_count, reply_count, created_at, hot_score, listed",
        params,
        conn,
    )
    if not rows:
        return None
    r = rows[0]
    row = CommentRow(
        r["id"],
        r["thread_id"],
        r["parent_id"],
        CommentState(r["state"]),
        r["like_count"],
        r["reply_count"],
    )
    score = ranking.hot_score(row.like_count, row.reply_count, as_datetime(r["created_at"]))
    listed = ranking.listed(row.state, row.parent_id is not None, row.reply_count)
    if score != r["hot_score"] or listed != bool(r["listed"]):
        await fetch(
            "UPDATE comments SET hot_score = $1, listed = $2 WHERE id = $3",
            [score, listed, comment_id],
            conn,
        )
    return row


async def count_visible(conn: BaseDBAsyncClient, row: CommentRow, delta: int) -> None:
    """The comment became visible (+1) or stopped being visible (-1): its parent's replies,
    its thread's and its target's comments."""
    if row.parent_id is not None:
        await update_comment(conn, row.parent_id, replies=delta)
    threads = await fetch(
        "UPDATE comment_threads SET comment_count = comment_count + $1 WHERE id = $2"
        " RETURNING target_type, target_id",
        [delta, row.thread_id],
        conn,
    )
    target = threads[0]
    table = TARGET_MODELS[target["target_type"]]._meta.db_table
    await fetch(
        f"UPDATE {table} SET comment_count = comment_count + $1 WHERE id = $2",
        [delta, target["target_id"]],
        conn,
    )


@dataclass
class Audit:
    """Stored counters found wrong (and fixed, when asked) in the threads audited."""

    threads: int = 0
    comments: int = 0
    targets: int = 0
    fixed: bool = False

    @property
    def total(self) -> int:
        return self.threads + self.comments + self.targets


async def audit_thread(conn: BaseDBAsyncClient, thread_id: int, *, fix: bool) -> Audit:
    """Compare every stored counter of one thread with a count of the rows (and the score
    and ``listed`` flag with what they derive from); with ``fix``, write the true values."""
    audit = Audit(fixed=fix)
    rows = await fetch(
        "SELECT c.id, c.state, c.parent_id, c.like_count, c.reply_count, c.created_at,"
        " c.hot_score, c.listed,"
        " (SELECT count(*) FROM comment_likes l WHERE l.comment_id = c.id) AS likes,"
        " (SELECT count(*) FROM comments r WHERE r.parent_id = c.id AND r.state = 'VISIBLE')"
        " AS replies FROM comments c WHERE c.thread_id = $1",
        [thread_id],
        conn,
    )
    visible = 0
    for r in rows:
        visible += r["state"] == CommentState.VISIBLE
        score = ranking.hot_score(r["likes"], r["replies"], as_datetime(r["created_at"]))
        listed = ranking.listed(r["state"], r["parent_id"] is not None, r["replies"])
        same_score = math.isclose(r["hot_score"], score, rel_tol=0, abs_tol=1e-9)
        if (r["like_count"], r["reply_count"], bool(r["listed"])) == (
            r["likes"],
            r["replies"],
            listed,
        ) and same_score:
            continue
        audit.comments += 1
        if fix:
            await fetch(
                "UPDATE comments SET like_count = $1, reply_count = $2, hot_score = $3,"
                " listed = $4 WHERE id = $5",
                [r["likes"], r["replies"], score, listed, r["id"]],
                conn,
            )
    found = await fetch(
        "SELECT comment_count, target_type, target_id FROM comment_threads WHERE id = $1",
        [thread_id],
        conn,
    )
    if not found:
        raise NoSuch("CommentThread", [thread_id], field="thread", noun="comment thread")
    thread = found[0]
    table = TARGET_MODELS[thread["target_type"]]._meta.db_table
    target = await fetch(
        f"SELECT comment_count FROM {table} WHERE id = $1", [thread["target_id"]], conn
    )
    if thread["comment_count"] != visible:
        audit.threads += 1
        if fix:
            await fetch(
                "UPDATE comment_threads SET comment_count = $1 WHERE id = $2",
                [visible, thread_id],
                conn,
            )
    if target and target[0]["comment_count"] != visible:
        audit.targets += 1
        if fix:
            await fetch(
                f"UPDATE {table} SET comment_count = $1 WHERE id = $2",
                [visible, thread["target_id"]],
                conn,
            )
    return audit
