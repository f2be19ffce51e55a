"""The baseline for ``bench track-page`` and ``bench hotpath``: the same pages without
GraphQL or the ORM.

A Starlette app with one asyncpg pool. ``POST /graphql`` accepts the same request body as
the real API (``{"query": ..., "operationName": ..., "variables": {...}}``; the query text
is ignored, the operation name picks the page) and answers the same JSON as the real API:

* ``TrackPage`` (and no name): one SQL round trip, the artists and genres aggregated in the
  database;
* ``SearchPage``: ncm's own search statement (``ncm.search.service.postgres_search_sql``,
  plain text built in Python), then the page's tracks with artists and album: two trips;
* ``CommentPage``: one keyset seek of a thread's newest top-level comments joined with their
  authors, for an anonymous reader (``likedByViewer`` false).

The harness checks that both answers are equal before it measures.

Run: ``BENCH_DATABASE_URL=postgres://... uvicorn bench.plain_app:app --port 8802``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/ncm_bench")
POOL_SIZE = int(os.environ.get("BENCH_PLAIN_POOL_SIZE", "10"))  # ncm's default pool maxsize

TRACK_PAGE_SQL = """
SELECT t.id, t.title, t.duration_ms, t.isrc, t.explicit, t.fee_policy, t.play_count,
       al.id AS album_id, al.title AS album_title, al.cover_url, al.release_date,
       (SELECT coalesce(json_agg(json_build_object('id', a.id, 'name', a.name)
                                 ORDER BY ta.position), '[]')
          FROM track_artists ta JOIN artists a ON a.id = ta.artist_id
         WHERE ta.track_id = t.id) AS artists,
       (SELECT coalesce(json_agg(json_build_object('slug', g.slug, 'name', g.name)
                                 ORDER BY g.name), '[]')
          FROM track_genres tg JOIN genres g ON g.id = tg.genre_id
         WHERE tg.track_id = t.id) AS genres
  FROM tracks t LEFT JOIN albums al ON al.id = t.album_id
 WHERE t.id = $1
"""

_pool: asyncpg.Pool | None = None


def global_id(kind: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{pk}".encode()).decode()


def track_pk(value: Any) -> int | None:
    try:
        padded = str(value) + "=" * (-len(str(value)) % 4)
        kind, _, pk = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        return int(pk) if kind == "Track" else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def track_json(row: asyncpg.Record) -> dict[str, Any]:
    album = None
    if row["album_id"] is not None:
        released = row["release_date"]
        album = {
            "id": global_id("Album", row["album_id"]),
            "title": row["album_title"],
            "coverUrl": row["cover_url"],
            "releaseDate": released.isoformat() if released else None,
        }
    return {
        "id": global_id("Track", row["id"]),
        "title": row["title"],
        "durationMs": row["duration_ms"],
        "isrc": row["isrc"],
        "explicit": row["explicit"],
        "feePolicy": row["fee_policy"],
        "playCount": float(row["play_count"]),
        "artists": [
            {"id": global_id("Artist", a["id"]), "name": a["name"]}
            for a in json.loads(row["artists"])
        ],
        "album": album,
        "genres": json.loads(row["genres"]),
    }


async def track_page(request: Request) -> Response:
    try:
        payload = await request.json()
        name = payload.get("operationName")
        if name == "SearchPage":
            return await search_page(payload["variables"])
        if name == "CommentPage":
            return await comment_page(payload["variables"])
        pk = track_pk(payload["variables"]["id"])
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"errors": [{"message": "bad request"}]}, status_code=400)
    if pk is None:
        return JSONResponse({"data": None, "errors": [{"message": "This id is not valid."}]})
    assert _pool is not None
    row = await _pool.fetchrow(TRACK_PAGE_SQL, pk)
    return JSONResponse({"data": {"track": track_json(row) if row is not None else None}})


SEARCH_TRACKS_SQL = """
SELECT t.id, t.title, t.duration_ms, al.id AS album_id, al.title AS album_title, al.cover_url,
       (SELECT coalesce(json_agg(json_build_object('id', a.id, 'name', a.name)
                                 ORDER BY ta.position), '[]')
          FROM track_artists ta JOIN artists a ON a.id = ta.artist_id
         WHERE ta.track_id = t.id) AS artists
  FROM tracks t LEFT JOIN albums al ON al.id = t.album_id
 WHERE t.id = ANY($1::bigint[])
"""
PAGE = 20


async def search_page(variables: dict[str, Any]) -> Response:
    """``search(query: $q, types: [TRACK], first: 20)`` as ``bench.hotpath.SEARCH_PAGE``."""
    from ncm.kit.pagination import encode_cursor
    from ncm.search.service import SearchType, postgres_search_sql
    from ncm.search.sources import SOURCES
    from ncm.search.text import query_terms

    text = str(variables["q"]).strip()
    sql, params = postgres_search_sql([SearchType.TRACK], text, query_terms(text), PAGE + 1, None)
    assert _pool is not None
    hits = await _pool.fetch(sql, *params)
    has_next = len(hits) > PAGE
    hits = hits[:PAGE]
    rows = {r["id"]: r for r in await _pool.fetch(SEARCH_TRACKS_SQL, [h["id"] for h in hits])}
    order = SOURCES[SearchType.TRACK].order
    edges = []
    for hit in hits:
        row = rows.get(hit["id"])
        if row is None:
            continue
        album = None
        if row["album_id"] is not None:
            album = {
                "id": global_id("Album", row["album_id"]),
                "title": row["album_title"],
                "coverUrl": row["cover_url"],
            }
        node = {
            "__typename": "Track",
            "id": global_id("Track", row["id"]),
            "title": row["title"],
            "durationMs": row["duration_ms"],
            "artists": [
                {"id": global_id("Artist", a["id"]), "name": a["name"]}
                for a in json.loads(row["artists"])
            ],
            "album": album,
        }
        cursor = encode_cursor([float(hit["score"]), order, int(hit["id"])])
        edges.append({"cursor": cursor, "node": node})
    page_info = {"hasNextPage": has_next, "endCursor": edges[-1]["cursor"] if edges else None}
    return JSONResponse({"data": {"search": {"edges": edges, "pageInfo": page_info}}})


COMMENT_PAGE_SQL = """
SELECT c.id, c.body, c.state, c.like_count, c.reply_count, c.created_at,
       u.id AS user_id, u.handle, u.display_name, u.avatar_url
  FROM (SELECT * FROM comments
         WHERE thread_id = (SELECT id FROM comment_threads
                             WHERE target_type = $1 AND target_id = $2)
           AND listed AND parent_id IS NULL AND (created_at, id) < ($3, $4)
         ORDER BY created_at DESC, id DESC LIMIT $5) c
  LEFT JOIN users u ON u.id = c.author_id
 ORDER BY c.created_at DESC, c.id DESC
"""


async def comment_page(variables: dict[str, Any]) -> Response:
    """``comments(threadId: $t, first: 20, after: $a)``, newest first, anonymous, as
    ``bench.hotpath.COMMENT_PAGE`` (the cursor decoded as ncm decodes it)."""
    from datetime import datetime

    from ncm.comments.targets import ThreadRef
    from ncm.kit.pagination import decode_cursor, encode_cursor

    padded = variables["t"] + "=" * (-len(variables["t"]) % 4)
    ref = ThreadRef.from_key(int(base64.urlsafe_b64decode(padded).decode().rsplit(":", 1)[1]))
    key = decode_cursor(variables["a"], 2)
    assert key is not None, "the bench pages always pass a cursor"
    assert _pool is not None
    rows = await _pool.fetch(
        COMMENT_PAGE_SQL,
        ref.target_type.value,
        ref.target_id,
        datetime.fromisoformat(key[0]),
        key[1],
        PAGE + 1,
    )
    edges = []
    for row in rows[:PAGE]:
        deleted = row["state"] == "DELETED"
        author = None
        if row["user_id"] is not None and not deleted:
            author = {
                "id": global_id("User", row["user_id"]),
                "handle": row["handle"],
                "displayName": row["display_name"],
                "avatarUrl": row["avatar_url"],
            }
        created = row["created_at"].isoformat()
        node = {
            "id": global_id("Comment", row["id"]),
            "body": row["body"] if row["state"] == "VISIBLE" else None,
            "likeCount": row["like_count"],
            "replyCount": row["reply_count"],
            "createdAt": created,
            "likedByViewer": False,
            "author": author,
        }
        edges.append({"cursor": encode_cursor([created, row["id"]]), "node": node})
    page_info = {
        "hasNextPage": len(rows) > PAGE,
        "endCursor": edges[-1]["cursor"] if edges else None,
    }
    return JSONResponse({"data": {"comments": {"edges": edges, "pageInfo": page_info}}})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global _pool
    from ncm.kit.db import SESSION_SETTINGS

    # ncm's session settings (JIT off: otherwise a search statement on the heaviest words
    # can spend ~200 ms compiling, which only this side would pay).
    _pool = await asyncpg.create_pool(
        DATABASE_URL, min_size=1, max_size=POOL_SIZE, server_settings=dict(SESSION_SETTINGS)
    )
    try:
        yield
    finally:
        await _pool.close()
        _pool = None


app = Starlette(
    routes=[Route("/graphql", track_page, methods=["POST"]), Route("/healthz", healthz)],
    lifespan=lifespan,
)
