"""PostgreSQL: pages seek their index at any depth, and counters stay exact under concurrency."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tortoise import connections

from ncm.catalog.models import Track
from ncm.comments import service
from ncm.comments.jobs import recount_threads
from ncm.comments.models import Comment, CommentThread
from ncm.comments.pages import _sort_key, key_of, seek_query
from ncm.comments.ranking import CommentOrder
from tests.comments.helpers import track_ref
from tests.conftest import make_user

pytestmark = pytest.mark.postgres_only
INDEXES = {CommentOrder.NEWEST: "comments_newest_idx", CommentOrder.HOT: "comments_hot_idx"}


async def _fill(thread_id: int, author_id: int, n: int) -> None:
    """n top-level comments set-based: 3 % hidden, 2 % deleted (unlisted), some liked."""
    await connections.get("default").execute_query(
        "INSERT INTO comments (thread_id, author_id, body, state, listed, like_count,"
        " reply_count, hot_score, created_at)"
        " SELECT $1, $2, 'c' || g, CASE WHEN g % 33 = 0 THEN 'HIDDEN' WHEN g % 50 = 0"
        " THEN 'DELETED' ELSE 'VISIBLE' END, g % 33 <> 0 AND g % 50 <> 0, g % 7, 0,"
        " log(greatest(1, g % 7)::float8) + extract(epoch from t)::float8 / 45000, t"
        " FROM generate_series(1, $3) g,"
        " LATERAL (SELECT now() - (g * 37 % 9973) * interval '1 minute' AS t) x",
        [thread_id, author_id, n],
    )


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


async def test_pages_seek_the_index_at_any_depth() -> None:
    ref, other = await track_ref(), await track_ref()
    author = await make_user("author")
    threads = []
    for r in (ref, other):
        threads.append(await CommentThread.create(target_type=r.target_type, target_id=r.target_id))
    for thread in threads:
        await _fill(thread.id, author.id, 6000)
    conn = connections.get("default")
    await conn.execute_script("ANALYZE comments")
    target = threads[0].id
    for order, index in INDEXES.items():
        column = "created_at" if order == CommentOrder.NEWEST else "hot_score"
        listed = await Comment.filter(thread_id=target, listed=True, parent_id=None).order_by(
            f"-{column}", "-id"
        )
        deep = listed[4000]
        for after, thread in (
            (a, t) for a in (None, _sort_key(order, key_of(order, deep))) for t in (target, ref)
        ):
            # The thread by id, or by its target (the one-statement pages' subquery).
            text, params = seek_query(order, thread, 21, after)
            rows = await conn.execute_query_dict(f"EXPLAIN (ANALYZE, FORMAT JSON) {text}", params)
            raw = rows[0]["QUERY PLAN"]
            plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
            nodes = _nodes(plan)
            scans = [n for n in nodes if n.get("Index Name") == index]
            assert scans, (order, after, plan)
            assert scans[0]["Node Type"] in {"Index Scan", "Index Only Scan"}
            assert not any(n["Node Type"] == "Sort" for n in nodes), plan
            # A seek: the index hands over the page and nothing is filtered away.
            assert scans[0]["Actual Rows"] == 21
            assert scans[0].get("Rows Removed by Filter", 0) == 0
            page = await conn.execute_query_dict(text, params)
            expected = listed[4001:4022] if after else listed[:21]
            assert [r["id"] for r in page] == [c.id for c in expected]


async def test_concurrent_likes_and_posts_keep_every_counter_exact() -> None:
    ref = await track_ref()
    users = [await make_user(f"user{i}") for i in range(24)]
    top = await service.post_comment(users[0], ref, "like me")

    async def like_twice(user: Any) -> None:
        await service.like(user, top.id)
        await service.like(user, top.id)

    await asyncio.gather(*(like_twice(u) for u in users))
    await asyncio.gather(*(service.unlike(u, top.id) for u in users[:5]))

    async def chatter(i: int, user: Any) -> None:
        await service.post_comment(user, ref, f"top {i}")
        await service.post_comment(user, ref, f"reply {i}", reply_to_id=top.id)

    await asyncio.gather(*(chatter(i, u) for i, u in enumerate(users)))
    await top.refresh_from_db()
    assert (top.like_count, top.reply_count) == (19, 24)
    thread = await CommentThread.get()
    assert thread.comment_count == 1 + 24 * 2
    assert (await Track.get(id=ref.target_id)).comment_count == thread.comment_count
    audit = await recount_threads([thread.id], fix=False)
    assert audit.total == 0, audit
    # The audit catches (and repairs) a counter gone wrong.
    await Track.filter(id=ref.target_id).update(comment_count=7)
    await Comment.filter(id=top.id).update(like_count=0)
    assert (await recount_threads([thread.id], fix=True)).total == 2
    assert (await recount_threads([thread.id], fix=False)).total == 0
    await top.refresh_from_db()
    assert top.like_count == 19
