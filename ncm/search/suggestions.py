"""Suggestions as a listener types: popular names that start with what was typed.

PostgreSQL: ``search_suggestions`` holds the names of the two most popular tiers of artists,
albums, tracks and public playlists (``ncm.search.tiers``), once for the whole name and once
from each later word (``swi`` suggests "Taylor Swift"), with each row's popularity rank in
its type. The tier refresh rebuilds it; a prefix reads only the rows under it in a
``text_pattern_ops`` btree, so any one- or two-character prefix costs a few thousand index
entries at most, whatever the catalog's size. SQLite (the embedded default, a small catalog)
reads the tables themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from ncm.errors import InvalidInput
from ncm.kit.db import is_postgres
from ncm.kit.sql import fetch
from ncm.search.sources import SOURCES, SearchType
from ncm.search.text import like_prefix, name_keys

SUGGESTED = (SearchType.ARTIST, SearchType.ALBUM, SearchType.TRACK, SearchType.PLAYLIST)
SUGGESTION_TIER = 2  # names of tiers 1-2 (the 20,000 most popular of each type)
MAX_PREFIX = 50
MAX_SUGGESTIONS = 20
HEAD_LENGTH = 2  # prefixes this short are answered from search_suggestion_heads


@dataclass(frozen=True)
class Suggestion:
    text: str
    type: SearchType
    id: int


async def suggestions(prefix: str, first: int | None = None) -> list[Suggestion]:
    size = min(max(first or 10, 1), MAX_SUGGESTIONS)
    text = " ".join(prefix.split())
    if len(text) > MAX_PREFIX:
        raise InvalidInput(f"A prefix is at most {MAX_PREFIX} characters.", field="prefix")
    if not text:
        return []
    keys = name_keys(text)
    patterns = [like_prefix(key) for key in keys]
    if not is_postgres():
        return await _from_sources(patterns, size)
    if max(len(key) for key in keys) <= HEAD_LENGTH:
        return await _from_heads(keys, size)
    return await _from_table(patterns, size)


async def _from_heads(keys: list[str], size: int) -> list[Suggestion]:
    """A one- or two-character prefix: its best names are stored ready (``a`` starts
    thousands of names; reading and ranking them all took 13 ms at 10M tracks)."""
    rows = await fetch(
        "SELECT kind, ref_id, label, min(rank) AS rank FROM search_suggestion_heads"
        " WHERE prefix = ANY($1::text[]) GROUP BY kind, ref_id, label"
        f" ORDER BY rank, kind DESC, ref_id DESC LIMIT {size}",
        [keys],
    )
    return _suggestions(rows)


async def _from_table(patterns: list[str], size: int) -> list[Suggestion]:
    # One OR of LIKEs (a BitmapOr of btree ranges) per spelling; the best rank of a name wins.
    matches = " OR ".join(f"key LIKE ${n}" for n in range(1, len(patterns) + 1))
    rows = await fetch(
        "SELECT kind, ref_id, label, min(rank) AS rank FROM search_suggestions"
        f" WHERE {matches} GROUP BY kind, ref_id, label"
        f" ORDER BY rank, kind DESC, ref_id DESC LIMIT {size}",
        patterns,
    )
    return _suggestions(rows)


def _suggestions(rows: list[dict[str, Any]]) -> list[Suggestion]:
    by_order = {SOURCES[kind].order: kind for kind in SUGGESTED}
    return [Suggestion(r["label"], by_order[int(r["kind"])], int(r["ref_id"])) for r in rows]


async def _from_sources(patterns: list[str], size: int) -> list[Suggestion]:
    conn = connections.get("default")
    found: list[tuple[int, int, Suggestion]] = []
    for kind in SUGGESTED:
        src = SOURCES[kind]
        # The whole name, or a later word of it, starts with the prefix.
        matches = " OR ".join(
            f"t.{src.title} LIKE ? ESCAPE '\\' OR t.{src.title} LIKE '% ' || ? ESCAPE '\\'"
            for _ in patterns
        )
        rows = await conn.execute_query_dict(
            f"SELECT t.id, t.{src.title} AS label FROM {src.table} t WHERE ({matches})"
            f"{src.visible} ORDER BY t.{src.popularity} DESC, t.id DESC LIMIT {size}",
            [p for pattern in patterns for p in (pattern, pattern)],
        )
        found += [
            (rank, -src.order, Suggestion(r["label"], kind, int(r["id"])))
            for rank, r in enumerate(rows)
        ]
    found.sort(key=lambda item: (item[0], item[1]))
    return [suggestion for _, _, suggestion in found[:size]]


async def rebuild() -> int:
    """Refill ``search_suggestions`` from the current tiers (PostgreSQL); rows written."""
    if not is_postgres():
        return 0
    selects = []
    for kind in SUGGESTED:
        src = SOURCES[kind]
        selects.append(
            f"SELECT {src.order} AS kind, t.id, t.{src.title} AS label,"
            f" lower(normalize(t.{src.title}, NFKC)) AS key,"
            f" row_number() OVER (ORDER BY t.{src.popularity} DESC, t.id DESC) AS rank"
            f" FROM {src.table} t WHERE t.search_tier <= {SUGGESTION_TIER}{src.visible}"
        )
    async with in_transaction() as tx:
        await tx.execute_query("DELETE FROM search_suggestions")
        await tx.execute_query(
            "INSERT INTO search_suggestions (key, label, kind, ref_id, rank)"
            " SELECT array_to_string(words[i:], ' '), label, kind, id, rank"
            f" FROM ({' UNION ALL '.join(selects)}) n,"
            " LATERAL (SELECT string_to_array(n.key, ' ') AS words) w,"
            " LATERAL generate_subscripts(w.words, 1) AS i"
            " WHERE i = 1 OR w.words[i] <> ''"
        )
        # The best MAX_SUGGESTIONS names under every one- and two-character prefix.
        await tx.execute_query("DELETE FROM search_suggestion_heads")
        await tx.execute_query(
            "INSERT INTO search_suggestion_heads (prefix, kind, ref_id, label, rank)"
            " SELECT prefix, kind, ref_id, label, rank FROM ("
            "  SELECT prefix, kind, ref_id, label, rank, row_number() OVER"
            "   (PARTITION BY prefix ORDER BY rank, kind DESC, ref_id DESC) AS place"
            "  FROM (SELECT DISTINCT ON (left(key, n), kind, ref_id) left(key, n) AS prefix,"
            "         kind, ref_id, label, rank"
            "        FROM search_suggestions, generate_series(1, $1::int) AS n"
            "        WHERE length(key) >= n"
            "        ORDER BY left(key, n), kind, ref_id, rank) d"
            f" ) ranked WHERE place <= {MAX_SUGGESTIONS}",
            [HEAD_LENGTH],
        )
        rows = await tx.execute_query_dict("SELECT count(*) AS n FROM search_suggestions")
    return int(rows[0]["n"])  # (the INSERT's own row count does not come back here)
