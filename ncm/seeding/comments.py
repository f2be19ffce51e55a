"""The comments of ``ncm seed scale --comments N``: millions of them (PostgreSQL only).

What one run adds, on the tracks and users already there (``ncm seed scale`` makes them; when
there are too few -- up to :data:`MIN_TRACKS` / :data:`MIN_USERS` -- this adds them first):

* about ``total`` comments: ``hot_track_share`` of them on the most played track, the rest
  spread over up to :data:`MAX_THREADS` other tracks with a skew (a few tracks get many);
  over the last two years; 0.5 % hidden, 0.5 % deleted by their authors;
* one level of replies: each top-level comment gets a Pareto-distributed number of replies
  (most none, a few thousands) posted within three days after it;
* likes: Pareto-distributed per comment (most none, the best a few thousand), each a real
  ``comment_likes`` row from distinct users;
* every stored counter exact: likes and replies per comment, ``hot_score`` and ``listed`` as
  the service computes them, comments per thread and ``tracks.comment_count``.

Everything is ``INSERT ... SELECT`` in the database, chunked by id range with progress; for a
load at least as big as the table the secondary indexes are dropped first and rebuilt after.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from time import perf_counter
from typing import Any

from ncm.comments import ranking
from ncm.errors import InvalidInput
from ncm.kit.db import is_postgres
from ncm.kit.progress import Echo, quiet, step
from ncm.kit.sql import index_statements, inserted_count
from ncm.seeding.loading import bulk_session, can_skip_fk_checks
from ncm.seeding.words import COMMENT_BODIES as BODIES

COMMENT_TABLES = ["comments", "comment_likes", "comment_threads"]
MIN_TRACKS = 5_000
MIN_USERS = 50_000
MAX_THREADS = 100_000
USER_SAMPLE = 200_000
CHUNK = 500_000
# Pareto (Lomax) draws: floor(scale * ((1 - u) ** (-1 / shape) - 1)), capped.
LIKES = (0.2, 1.5, 20_000)
REPLIES = (0.125, 1.5, 5_000)
REPLY_LIKES = (0.05, 1.5, 2_000)


def _pareto_sql(params: tuple[float, float, int]) -> str:
    scale, shape, cap = params
    return f"least({cap}, floor({scale} * (power(1 - random(), {-1 / shape}) - 1)))::int"


def _pareto_mean(params: tuple[float, float, int]) -> float:
    """E[floor(X)] = sum over k >= 1 of P(X >= k), for sizing the top-level share."""
    scale, shape, cap = params
    return sum((1 + k / scale) ** -shape for k in range(1, cap + 1))


def _hot_sql(likes: str, replies: str, created: str) -> str:
    """ranking.hot_score in SQL (log is base 10 in PostgreSQL)."""
    return (
        f"log(greatest(1, {likes} + {ranking.REPLY_WEIGHT} * {replies})::float8)"
        f" + extract(epoch from {created})::float8 / {ranking.HOT_SECONDS_PER_DECADE}"
    )


def _coprime_stride(n: int) -> int:
    stride = 1_000_003
    while math.gcd(stride, n) != 1:
        stride += 2
    return stride


async def _ensure_catalog(conn: Any, total: int, echo: Echo) -> None:
    """Enough tracks and users for ``total`` comments (a small run needs few)."""
    want_tracks = min(MIN_TRACKS, max(20, total // 100))
    want_users = min(MIN_USERS, max(100, total // 20))
    tracks = await conn.fetchval("SELECT count(*) FROM tracks")
    users = await conn.fetchval("SELECT count(*) FROM users")
    if tracks >= want_tracks and users >= want_users:
        return
    from ncm.seeding.catalog import seed_catalog

    echo(f"comment seed: adding tracks/users first ({tracks:,} tracks, {users:,} users)")
    await seed_catalog(
        tracks=max(0, want_tracks - tracks), users=max(0, want_users - users), echo=echo
    )


async def seed_comments(
    total: int, hot_track_share: float, echo: Echo = quiet
) -> dict[str, object]:
    """Add about ``total`` comments (see the module docstring); returns counts and timings."""
    if not is_postgres():
        raise InvalidInput("seeding comments needs PostgreSQL")
    if total < 1 or not 0 <= hot_track_share <= 1:
        raise InvalidInput("total must be positive and the hot share between 0 and 1.")
    started = perf_counter()
    seconds: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = perf_counter()
        seconds[name] = round(now - since, 2)
        return now

    fk_off = await can_skip_fk_checks(COMMENT_TABLES)
    async with bulk_session(fk_off=fk_off) as conn:
        await _ensure_catalog(conn, total, echo)
        t = perf_counter()
        users = await conn.fetchval(
            "SELECT array_agg(id) FROM (SELECT id FROM users ORDER BY random() LIMIT $1) s",
            USER_SAMPLE,
        )
        hot_track = await conn.fetchval(
            "SELECT id FROM tracks ORDER BY play_count DESC, id LIMIT 1"
        )
        tracks = await conn.fetchval(
            "SELECT array_agg(id) FROM (SELECT id FROM tracks WHERE id <> $1"
            " ORDER BY random() LIMIT $2) s",
            hot_track,
            MAX_THREADS,
        )
        track_ids = [hot_track, *tracks]
        await conn.execute(
            "INSERT INTO comment_threads (target_type, target_id, comment_count, created_at)"
            " SELECT 'TRACK', id, 0, now() FROM unnest($1::bigint[]) id"
            " ON CONFLICT (target_type, target_id) DO NOTHING",
            track_ids,
        )
        thread_rows = await conn.fetch(
            "SELECT t.id, t.target_id FROM comment_threads t"
            " WHERE t.target_type = 'TRACK' AND t.target_id = ANY($1::bigint[])",
            track_ids,
        )
        thread_of = {r["target_id"]: r["id"] for r in thread_rows}
        hot_thread = thread_of[hot_track]
        others = [thread_of[i] for i in tracks]
        t = lap("prepare", t)

        existing = await conn.fetchval(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = 'comments'::regclass"
        )
        dropped: list[tuple[str, str]] = []
        if total >= max(existing, 0):
            for table in ("comments", "comment_likes"):
                dropped += await index_statements(conn, table, unique=False)
            for drop, _ in dropped:
                await conn.execute(drop)

        # The reply cap follows the run's size: one heavy-tailed draw of thousands of replies
        # would otherwise double a small run (a 4,000-comment run once added 5,900).
        reply_draw = (REPLIES[0], REPLIES[1], min(REPLIES[2], max(10, total // 200)))
        n_top = round(total / (1 + _pareto_mean(reply_draw)))
        first_id = await conn.fetchval("SELECT coalesce(max(id), 0) + 1 FROM comments")
        now = datetime.now(UTC)
        n_users, n_others = len(users), len(others)
        like_cap = (LIKES[0], LIKES[1], min(LIKES[2], n_users - 1))
        echo(f"comment seed: {n_top:,} top-level comments on {len(track_ids):,} tracks")
        for start in range(0, n_top, CHUNK):
            count = min(CHUNK, n_top - start)
            await conn.execute(
                "INSERT INTO comments (thread_id, author_id, body, state, listed, like_count,"
                " reply_count, hot_score, created_at)"
                f" SELECT th, au, body, st, st = 'VISIBLE' OR (st = 'DELETED' AND rc > 0), lc, rc,"
                f" {_hot_sql('lc', 'rc', 'ca')}, ca FROM ("
                "  SELECT CASE WHEN random() < $1 THEN $2"
                "    ELSE ($3::bigint[])[1 + floor(power(random(), 2) * $4)::int] END AS th,"
                "   ($5::bigint[])[1 + floor(random() * $6)::int] AS au,"
                "   ($7::text[])[1 + g % $8] || ' #' || g AS body,"
                "   CASE WHEN r < 0.005 THEN 'HIDDEN' WHEN r < 0.01 THEN 'DELETED'"
                "     ELSE 'VISIBLE' END AS st,"
                f"   {_pareto_sql(like_cap)} AS lc, {_pareto_sql(reply_draw)} AS rc,"
                "   $9::timestamptz - random() * interval '730 days' AS ca"
                "  FROM (SELECT g, random() AS r FROM generate_series($10::bigint, $11::bigint) g)"
                "  AS gen) s",
                hot_track_share,
                hot_thread,
                others,
                n_others,
                users,
                n_users,
                BODIES,
                len(BODIES),
                now,
                start,
                start + count - 1,
            )
            step(echo, "top-level comments", start + count, n_top)
        last_top = await conn.fetchval("SELECT max(id) FROM comments")
        t = lap("top_level", t)

        replies = 0
        reply_likes = _pareto_sql(
            (REPLY_LIKES[0], REPLY_LIKES[1], min(REPLY_LIKES[2], n_users - 1))
        )
        for low in range(first_id, last_top + 1, CHUNK):
            high = min(low + CHUNK - 1, last_top)
            status = await conn.execute(
                "INSERT INTO comments (thread_id, author_id, parent_id, reply_to_id, body, state,"
                " listed, like_count, reply_count, hot_score, created_at)"
                f" SELECT th, au, pid, pid, body, 'VISIBLE', true, lc, 0, {_hot_sql('lc', '0', 'ca')},"
                " ca FROM ("
                "  SELECT p.thread_id AS th, p.id AS pid,"
                "   ($1::bigint[])[1 + floor(random() * $2)::int] AS au,"
                "   '回复 #' || p.id || ': ' || ($3::text[])[1 + (p.id + k) % $4] AS body,"
                f"   {reply_likes} AS lc,"
                "   least($5::timestamptz, p.created_at + random() * interval '3 days') AS ca"
                "  FROM comments p CROSS JOIN LATERAL generate_series(1, p.reply_count) k"
                "  WHERE p.id BETWEEN $6 AND $7 AND p.parent_id IS NULL AND p.reply_count > 0"
                " ) s",
                users,
                n_users,
                BODIES,
                len(BODIES),
                now,
                low,
                high,
            )
            replies += inserted_count(status)
            step(echo, "replies (by parent id)", high - first_id + 1, last_top - first_id + 1)
        echo(f"  replies: {replies:,}")
        last_id = await conn.fetchval("SELECT max(id) FROM comments")
        t = lap("replies", t)

        likes = 0
        stride = _coprime_stride(n_users)
        for low in range(first_id, last_id + 1, CHUNK):
            status = await conn.execute(
                "INSERT INTO comment_likes (user_id, comment_id, created_at)"
                " SELECT ($1::bigint[])[1 + ((c.id * 7919 + k::bigint * $2::bigint) % $3)], c.id,"
                " c.created_at"
                " FROM comments c CROSS JOIN LATERAL generate_series(1, c.like_count) k"
                " WHERE c.id BETWEEN $4 AND $5 AND c.like_count > 0",
                users,
                stride,
                n_users,
                low,
                min(low + CHUNK - 1, last_id),
            )
            likes += inserted_count(status)
            step(
                echo,
                "likes (by comment id)",
                min(low + CHUNK, last_id + 1) - first_id,
                last_id - first_id + 1,
            )
        t = lap("likes", t)

        for drop, create in dropped:
            echo(f"  rebuilding {drop.removeprefix('DROP INDEX ')}")
            await conn.execute(create)
        t = lap("indexes", t)

        thread_ids = [hot_thread, *others]
        await conn.execute(
            "UPDATE comment_threads t SET comment_count = s.n FROM ("
            " SELECT thread_id, count(*) AS n FROM comments"
            " WHERE state = 'VISIBLE' AND thread_id = ANY($1::bigint[]) GROUP BY thread_id) s"
            " WHERE t.id = s.thread_id",
            thread_ids,
        )
        await conn.execute(
            "UPDATE tracks k SET comment_count = t.comment_count FROM comment_threads t"
            " WHERE t.target_type = 'TRACK' AND t.target_id = k.id AND t.id = ANY($1::bigint[])",
            thread_ids,
        )
        t = lap("counters", t)
        await conn.execute("VACUUM ANALYZE comments")
        await conn.execute("VACUUM ANALYZE comment_likes")
        await conn.execute("ANALYZE comment_threads")
        lap("vacuum_analyze", t)
        hot_count = await conn.fetchval(
            "SELECT comment_count FROM comment_threads WHERE id = $1", hot_thread
        )
    added = last_id - first_id + 1
    elapsed = perf_counter() - started
    echo(f"comment seed: {added:,} comments, {likes:,} likes in {elapsed:.0f}s")
    return {
        "comments_added": added,
        "top_level": n_top,
        "replies": replies,
        "likes": likes,
        "threads": len(thread_ids),
        "hot_track_id": hot_track,
        "hot_thread_id": hot_thread,
        "hot_thread_visible_comments": hot_count,
        "first_comment_id": first_id,
        **{f"seconds_{k}": v for k, v in seconds.items()},
        "seconds_total": round(elapsed, 1),
    }
