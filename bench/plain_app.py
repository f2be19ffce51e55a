"""The baseline for ``bench track-page``: the same track page without GraphQL or the ORM.

A Starlette app with one asyncpg pool. ``POST /graphql`` accepts the same request body as
the real API (``{"query": ..., "operationName": ..., "variables": {"id": <global id>}}``;
the query text is ignored) and answers the same JSON as the real API's ``TrackPage`` query,
from one SQL round trip (the artists and genres aggregated in the database). The harness
checks that both answers are equal before it measures.

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
        pk = track_pk(payload["variables"]["id"])
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"errors": [{"message": "bad request"}]}, status_code=400)
    if pk is None:
        return JSONResponse({"data": None, "errors": [{"message": "This id is not valid."}]})
    assert _pool is not None
    row = await _pool.fetchrow(TRACK_PAGE_SQL, pk)
    return JSONResponse({"data": {"track": track_json(row) if row is not None else None}})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global _pool
    _pool = await asyncpg.create_pool(DATABASE_URL, min_size=1, max_size=POOL_SIZE)
    try:
        yield
    finally:
        await _pool.close()
        _pool = None


app = Starlette(
    routes=[Route("/graphql", track_page, methods=["POST"]), Route("/healthz", healthz)],
    lifespan=lifespan,
)
