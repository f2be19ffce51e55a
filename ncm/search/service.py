"""Search across tracks, albums, artists, users and public playlists, best match first.

Relevance (docs/search.md): a row whose whole name is the query (``exact``) comes first, then
a popular row whose name starts with it (``prefix``), then any row containing every query
token; within a level, artists before albums before tracks before playlists before users,
then popularity. As one number: ``level + type order / 10 + ln(1 + popularity) / 1000``.

PostgreSQL: exact names come from a btree on the normalized name (every row), the rest from
the stored ``search_vector``'s GIN indexes read tier by tier (``ncm.search.tiers``): a page
that tier 1 fills never reads the other tiers, so a common word reads the matches among a
fixed number of popular rows, not every match. SQLite (the embedded default): FTS5 with the
same levels and bm25 as a tie-breaker. The keyset cursor is ``(score, type order, id)``:
every page is a fresh indexed match, never an OFFSET.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise import connections

from ncm.errors import InvalidInput
from ncm.kit.db import is_postgres
from ncm.kit.pagination import Page, decode_cursor, encode_cursor, page_size
from ncm.search.sources import SOURCES, SearchType, Source
from ncm.search.text import fts5_query, like_prefix, name_keys, pg_tsquery, query_terms
from ncm.search.tiers import LAST_TIER

MAX_QUERY_LENGTH = 100


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
    if is_postgres():
        hits = await _search_postgres(wanted, text, terms, size + 1, cursor)
    else:
        hits = []
        for kind in wanted:
            hits.extend(await _search_sqlite(kind, text, terms, size + 1, cursor))
    hits.sort(key=lambda h: (h.score, SOURCES[h.type].order, h.id), reverse=True)
    has_next = len(hits) > size
    hits = hits[:size]
    cursors = [encode_cursor([h.score, SOURCES[h.type].order, h.id]) for h in hits]
    return Page(hits, cursors, has_next, after is not None)


def _pg_name_key(src: Source) -> str:
    return f"lower(normalize(t.{src.title}, NFKC))"


def _pg_score(src: Source) -> str:
    """$2: the exact name keys (text[]), $3: the prefix pattern; levels as the module says."""
    key = _pg_name_key(src)
    return (
        f"((CASE WHEN {key} = ANY($2::text[]) THEN {2 + src.order / 10}"
        f" WHEN t.search_tier <= 1 AND {key} LIKE $3 THEN {1 + src.order / 10} ELSE 0 END)"
        f" + ln(1 + greatest(t.{src.popularity}, 0)) / 1000)::float8"
    )


async def _search_postgres(
    kinds: list[SearchType],
    text: str,
    terms: list[tuple[str, bool]],
    limit: int,
    cursor: list[Any] | None,
) -> list[Hit]:
    sql, params = postgres_search_sql(kinds, text, terms, limit, cursor)
    rows = await connections.get("default").execute_query_dict(sql, params)
    by_order = {SOURCES[kind].order: kind for kind in kinds}
    return [Hit(by_order[int(r["o"])], int(r["id"]), float(r["score"])) for r in rows]


def postgres_search_sql(
    kinds: list[SearchType],
    text: str,
    terms: list[tuple[str, bool]],
    limit: int,
    cursor: list[Any] | None,
) -> tuple[str, list[Any]]:
    """The statement and parameters of a search (rows ``o, id, score``; the bench's plain
    endpoint runs the same). Every type in one statement. Per type: the exact names (a btree lookup, every tier),
    then token matches in tier 1; tiers 1-2 only when tier 1 could not fill the page, and so
    on to every row (each gate is a one-time filter: a branch it closes never runs)."""
    keys = name_keys(text)
    params: list[Any] = [pg_tsquery(terms), keys, like_prefix(keys[0])]
    typed = "$1 <> '' AND $3 <> ''"  # every parameter typed, whatever the branches use
    if cursor is not None:
        params += [float(cursor[0]), int(cursor[2])]
        typed += " AND $4::float8 IS NOT NULL AND $5::bigint IS NOT NULL"
    matches = "t.search_vector @@ to_tsquery('simple', $1)"
    ctes: list[str] = []
    for kind in kinds:
        src = SOURCES[kind]
        where, _ = _after(src.order, cursor, "$4::float8", "$5::bigint", numbered=True)

        def branch(condition: str, src: Source = src, where: str = where) -> str:
            return (
                f"SELECT {src.order} AS o, id, score FROM (SELECT t.id, {_pg_score(src)} AS score"
                f" FROM {src.table} t WHERE {condition}{src.visible}) s{where}"
                f" ORDER BY score DESC, id DESC LIMIT {int(limit)}"
            )

        def exact(i: int, src: Source = src, where: str = where) -> str:
            # In popularity order down the (name, popularity, id) btree: a title thousands
            # of tracks share reads only a page of them.
            return (
                f"(SELECT {src.order} AS o, id, score FROM (SELECT t.id, {_pg_score(src)}"
                f" AS score FROM {src.table} t WHERE {_pg_name_key(src)} = ($2::text[])[{i}]"
                f"{src.visible} ORDER BY t.{src.popularity} DESC, t.id DESC) s{where}"
                f" LIMIT {int(limit)})"
            )

        name = kind.lower()
        spellings = " UNION ALL ".join(exact(i) for i in range(1, len(keys) + 1))
        ctes.append(f"{name}_0 AS ({spellings})")
        gates: list[str] = []
        for tier in range(1, LAST_TIER + 1):
            bounded = f" AND t.search_tier <= {tier}" if tier < LAST_TIER else ""
            ctes.append(f"{name}_{tier} AS ({branch(' AND '.join([*gates, matches]) + bounded)})")
            gates.append(f"(SELECT count(*) FROM {name}_{tier}) < {int(limit)}")
    branches = " UNION ALL ".join(
        f"SELECT * FROM {kind.lower()}_{part}" for kind in kinds for part in range(LAST_TIER + 1)
    )
    sql = (
        f"WITH {', '.join(ctes)} SELECT o, id, max(score) AS score FROM ({branches}) u"
        f" WHERE {typed}"
        f" GROUP BY o, id ORDER BY score DESC, o DESC, id DESC LIMIT {int(limit)}"
    )
    return sql, params


async def _search_sqlite(
    kind: SearchType,
    text: str,
    terms: list[tuple[str, bool]],
    limit: int,
    cursor: list[Any] | None,
) -> list[Hit]:
    src = SOURCES[kind]
    conn = connections.get("default")
    keys = name_keys(text)
    exact = ", ".join("?" for _ in keys)
    # SQLite's lower() folds ASCII only; names compare case-insensitively through NOCASE.
    score = (
        f"((CASE WHEN t.{src.title} COLLATE NOCASE IN ({exact}) THEN {2 + src.order / 10}"
        f" WHEN t.{src.title} LIKE ? ESCAPE '\\' THEN {1 + src.order / 10} ELSE 0 END)"
        f" + ln(1 + max(t.{src.popularity}, 0)) / 1000 - bm25({src.table}_fts) / 1e9)"
    )
    sql = (
        f"SELECT id, score FROM (SELECT t.id AS id, {score} AS score"
        f" FROM {src.table}_fts JOIN {src.table} t ON t.id = {src.table}_fts.rowid"
        f" WHERE {src.table}_fts MATCH ?{src.visible}) s"
    )
    params = [*keys, like_prefix(keys[0]), fts5_query(terms)]
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
