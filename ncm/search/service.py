"""Search across tracks, albums, artists, users and public playlists, best match first.

One indexed full-text match per type (GIN over the stored ``search_vector``, which is
``to_tsvector('simple', search_text)``, on PostgreSQL; FTS5 on SQLite). On PostgreSQL a match
is scored by an exact-title bonus and popularity (``ln(1 + count) / 100``); on SQLite by
bm25, the bonus and a tie-breaking popularity term. Results are then merged across types. The keyset cursor is ``(score, type, id)``:
every page is a fresh indexed match, never an OFFSET.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tortoise import connections

from ncm.errors import InvalidInput
from ncm.kit.db import is_postgres
from ncm.kit.pagination import Page, decode_cursor, encode_cursor, page_size
from ncm.search.text import fts5_query, pg_tsquery, query_terms

MAX_QUERY_LENGTH = 100


class SearchType(StrEnum):
    TRACK = "TRACK"
    ALBUM = "ALBUM"
    ARTIST = "ARTIST"
    USER = "USER"
    PLAYLIST = "PLAYLIST"


@dataclass(frozen=True)
class _Source:
    table: str
    title: str  # the column an exact match of the whole query is checked against
    popularity: str  # a stored counter
    order: int  # tie-break between types with the same score
    visible: str = ""  # an extra condition on ``t`` (e.g. only public playlists)


SOURCES: dict[SearchType, _Source] = {
    SearchType.ARTIST: _Source("artists", "name", "subscriber_count", 4),
    SearchType.TRACK: _Source("tracks", "title", "play_count", 3),
    SearchType.ALBUM: _Source("albums", "title", "subscriber_count", 2),
    SearchType.USER: _Source("users", "handle", "follower_count", 1),
    SearchType.PLAYLIST: _Source(
        "playlists",
        "title",
        "subscriber_count",
        0,
        " AND t.privacy = 'PUBLIC' AND t.kind = 'NORMAL' AND t.deleted_at IS NULL",
    ),
}


@dataclass(frozen=True)
class Hit:
    type: SearchType
    id: int
    score: float


async def search(
    query: str, types: list[SearchType] | None, first: int | None, after: str | None
) -> Page[Hit]:
    size = page_size(first)
    text = query.strip()
    if len(text) > MAX_QUERY_LENGTH:
        raise InvalidInput(f"A search is at most {MAX_QUERY_LENGTH} characters.", field="query")
    terms = query_terms(text)
    if not terms:
        return Page([], [], False)
    cursor = decode_cursor(after, 3)
    if cursor is not None and not (
        isinstance(cursor[0], (int, float))
        and isinstance(cursor[1], int)
        and isinstance(cursor[2], int)
    ):
        raise InvalidInput("This cursor is not valid.", field="after")
    wanted = list(dict.fromkeys(types or list(SearchType)))
    hits: list[Hit] = []
    for kind in wanted:
        hits.extend(await _search_one(kind, text, terms, size + 1, cursor))
    hits.sort(key=lambda h: (h.score, SOURCES[h.type].order, h.id), reverse=True)
    has_next = len(hits) > size
    hits = hits[:size]
    cursors = [encode_cursor([h.score, SOURCES[h.type].order, h.id]) for h in hits]
    return Page(hits, cursors, has_next, after is not None)


async def _search_one(
    kind: SearchType,
    text: str,
    terms: list[tuple[str, bool]],
    limit: int,
    cursor: list[Any] | None,
) -> list[Hit]:
    src = SOURCES[kind]
    conn = connections.get("default")
    if is_postgres():
        # No ts_rank: the titles are short, so it barely separates matches, yet it read every
        # matching row's vector again (a third of the query's time on the largest sets).
        score = (
            f"(CASE WHEN lower(t.{src.title}) = lower($2) THEN 1 ELSE 0 END"
            f" + ln(1 + greatest(t.{src.popularity}, 0)) / 100)::float8"
        )
        sql = (
            f"SELECT id, score FROM (SELECT t.id, {score} AS score"
            f" FROM {src.table} t, to_tsquery('simple', $1) AS q(q)"
            f" WHERE t.search_vector @@ q.q{src.visible}) s"
        )
        params: list[Any] = [pg_tsquery(terms), text]
        mark = len(params) + 1
        where, extra = _after(src.order, cursor, f"${mark}", f"${mark + 1}", numbered=True)
        rows = await conn.execute_query_dict(
            f"{sql}{where} ORDER BY score DESC, id DESC LIMIT {int(limit)}", params + extra
        )
    else:
        score = (
            f"(-bm25({src.table}_fts)"
            f" + CASE WHEN lower(t.{src.title}) = lower(?) THEN 1 ELSE 0 END"
            f" + t.{src.popularity} / 1e12)"
        )
        sql = (
            f"SELECT id, score FROM (SELECT t.id AS id, {score} AS score"
            f" FROM {src.table}_fts JOIN {src.table} t ON t.id = {src.table}_fts.rowid"
            f" WHERE {src.table}_fts MATCH ?{src.visible}) s"
        )
        params = [text, fts5_query(terms)]
        where, extra = _after(src.order, cursor, "?", "?", numbered=False)
        rows = await conn.execute_query_dict(
            f"{sql}{where} ORDER BY score DESC, id DESC LIMIT {int(limit)}", params + extra
        )
    return [Hit(kind, int(r["id"]), float(r["score"])) for r in rows]


def _after(
    order: int, cursor: list[Any] | None, p_score: str, p_id: str, *, numbered: bool
) -> tuple[str, list[Any]]:
    """Rows after the cursor in ``(score, type order, id)`` descending order.

    ``numbered`` placeholders ($1) may repeat; positional ones (?) take a value each.
    """
    if cursor is None:
        return "", []
    score, cursor_order, cursor_id = float(cursor[0]), int(cursor[1]), int(cursor[2])
    if order < cursor_order:
        return f" WHERE score <= {p_score}", [score]
    if order > cursor_order:
        return f" WHERE score < {p_score}", [score]
    sql = f" WHERE (score < {p_score} OR (score = {p_score} AND id < {p_id}))"
    return sql, [score, cursor_id] if numbered else [score, score, cursor_id]
