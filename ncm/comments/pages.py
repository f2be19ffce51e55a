"""Pages of a thread's top-level comments (NEWEST, HOT, RECOMMENDED) and of a floor's replies.

Every page is one keyset seek on a partial index that holds only listed rows (migration
0005), so neither the depth of the page nor the hidden and deleted comments make the
database read more than the page: the predicates below repeat the indexes' ``WHERE`` word
for word and the cursor is a row comparison, which PostgreSQL and SQLite both seek.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

from ncm.accounts.service import Profile, profile_columns, profile_reader
from ncm.comments import ranking
from ncm.comments.models import Comment, CommentThread, TargetType
from ncm.comments.ranking import CommentOrder
from ncm.comments.sql import fetch_comments
from ncm.comments.targets import ThreadRef
from ncm.errors import InvalidInput
from ncm.kit.pagination import (
    Page,
    decode_cursor,
    encode_cursor,
    make_page,
    page_size,
    time_cursor,
)
from ncm.kit.sql import as_models, columns, fetch_rows, first_of_each, hydrator

_TOP = "thread_id = $1 AND listed AND parent_id IS NULL"
_THREAD_OF_TARGET = "(SELECT id FROM comment_threads WHERE target_type = $1 AND target_id = $2)"
_SORT = {CommentOrder.NEWEST: "created_at", CommentOrder.HOT: "hot_score"}


def _bad_cursor() -> InvalidInput:
    return InvalidInput("This cursor is not valid.", field="after")


def _sort_key(order: CommentOrder, raw: list[Any]) -> tuple[Any, int]:
    value, pk = raw
    if not isinstance(pk, int):
        raise _bad_cursor()
    try:
        if order == CommentOrder.NEWEST:
            return datetime.fromisoformat(value), pk
        return float(value), pk
    except (TypeError, ValueError):
        raise _bad_cursor() from None


def _after(order: CommentOrder, after: str | None) -> tuple[Any, int] | None:
    """The sort key a NEWEST or HOT cursor holds (None for the first page)."""
    raw = decode_cursor(after, 2)
    return _sort_key(order, raw) if raw is not None else None


def key_of(order: CommentOrder, c: Comment) -> list[Any]:
    value = c.created_at.isoformat() if order == CommentOrder.NEWEST else c.hot_score
    return [value, c.id]


def cursor_of(order: CommentOrder) -> Callable[[Comment], str]:
    """How a page in ``order`` writes each row's cursor: ``encode_cursor(key_of(...))``."""
    if order == CommentOrder.NEWEST:
        return lambda c: time_cursor(c.created_at, c.id)
    return lambda c: encode_cursor(key_of(order, c))


def seek_query(
    order: CommentOrder,
    thread_id: int | ThreadRef,
    limit: int,
    after: tuple[Any, int] | None,
    *,
    exclude: Sequence[int] = (),
    since: datetime | None = None,
    authors: bool = False,
) -> tuple[str, list[Any]]:
    """The SQL and parameters of one keyset seek (the query plan test explains it); with
    ``authors``, each row also holds its author's public profile (``author__<column>``).
    A ``ThreadRef`` names the thread by its target (a subquery finds its id)."""
    column = _SORT[order]
    where: list[str] = [_TOP]
    params: list[Any] = [thread_id]
    if isinstance(thread_id, ThreadRef):
        where = [_TOP.replace("$1", _THREAD_OF_TARGET)]
        params = [thread_id.target_type.value, thread_id.target_id]
    if after is not None:
        where.append(f"({column}, id) < (${len(params) + 1}, ${len(params) + 2})")
        params += list(after)
    if since is not None:
        where.append(f"created_at >= ${len(params) + 1}")
        params.append(since)
    if exclude:
        marks = ", ".join(f"${len(params) + 1 + i}" for i in range(len(exclude)))
        where.append(f"id NOT IN ({marks})")
        params += list(exclude)
    text = (
        f"SELECT * FROM comments WHERE {' AND '.join(where)}"
        f" ORDER BY {column} DESC, id DESC LIMIT {int(limit)}"
    )
    if authors:  # joined to the page, not to the index seek
        text = (
            f"SELECT c.*, {profile_columns('u', AUTHOR)} FROM ({text}) c"
            f" LEFT JOIN users u ON u.id = c.author_id ORDER BY c.{column} DESC, c.id DESC"
        )
    return text, params


async def _seek(
    order: CommentOrder,
    thread_id: int,
    limit: int,
    after: tuple[Any, int] | None,
    *,
    exclude: Sequence[int] = (),
    since: datetime | None = None,
    authors: dict[int, Profile] | None = None,
) -> list[Comment]:
    """Run :func:`seek_query`; with ``authors``, the rows' authors' public profiles are read
    in the same statement and put there (a page and its authors in one round trip)."""
    text, params = seek_query(
        order, thread_id, limit, after, exclude=exclude, since=since, authors=authors is not None
    )
    if authors is None:
        return await fetch_comments(text, params)
    rows = await fetch_rows(text, params)
    _take_authors(rows, authors)
    return as_models(Comment, rows)


AUTHOR = "author__"
_READ_AUTHOR = profile_reader(AUTHOR)
_AUTHOR_ID = f"{AUTHOR}id"


def _take_authors(rows: Sequence[Mapping[str, Any]], authors: dict[int, Profile]) -> None:
    """The authors' profiles of comment rows read with ``seek_query(..., authors=True)``."""
    for row in rows:
        pk = row["author_id"]
        if pk not in authors and row[_AUTHOR_ID] is not None:  # a profile read once per author
            authors[pk] = _READ_AUTHOR(row)


async def top_level_page(
    thread_id: int | None,
    order: CommentOrder,
    first: int | None,
    after: str | None,
    *,
    now: datetime,
    authors: dict[int, Profile] | None = None,
) -> Page[Comment]:
    """A page of a thread's top-level comments; with ``authors``, their authors' public
    profiles are read in the same statements and put there."""
    if order == CommentOrder.RECOMMENDED:
        return await _recommended(thread_id, first, after, now, authors)
    size = page_size(first)
    key = _after(order, after)
    rows = (
        [] if thread_id is None else await _seek(order, thread_id, size + 1, key, authors=authors)
    )
    return make_page(rows, size, cursor=cursor_of(order), has_previous=after is not None)


async def thread_with_top_page(
    ref: ThreadRef,
    order: CommentOrder,
    first: int | None,
    after: str | None,
    *,
    authors: dict[int, Profile],
) -> tuple[CommentThread | None, Page[Comment]]:
    """A NEWEST or HOT page of a track's or an album's thread, with the thread's row and the
    comments' authors, in one statement (those targets are public: their thread row is proof
    enough that the target exists); ``(None, empty page)`` when the target has no thread
    row (the caller then checks the target as usual)."""
    if order == CommentOrder.RECOMMENDED or ref.target_type == TargetType.PLAYLIST:
        raise ValueError("RECOMMENDED reads two streams; a playlist's viewer is checked first")
    size = page_size(first)
    seek, params = seek_query(order, ref, size + 1, _after(order, after), authors=True)
    text = _with_thread(order, seek, len(params))
    rows = await fetch_rows(text, [*params, ref.target_type.value, ref.target_id])
    if not rows:
        return None, Page([], [], False, after is not None)
    thread = hydrator(CommentThread)({c: rows[0][f"{THREAD}{c}"] for c in _thread_columns()})
    found = [row for row in rows if row["id"] is not None]
    _take_authors(found, authors)
    page = make_page(
        as_models(Comment, found), size, cursor=cursor_of(order), has_previous=after is not None
    )
    return thread, page


THREAD = "thread__"


@lru_cache(maxsize=64)
def _with_thread(order: CommentOrder, seek: str, params: int) -> str:
    """The seek joined to its thread's row (``thread__<column>``), the thread's target as
    parameters ``params + 1`` and ``params + 2``. Made once per seek text (a few per order)."""
    thread_columns = ", ".join(f"t.{c} AS {THREAD}{c}" for c in _thread_columns())
    column = _SORT[order]
    return (
        f"SELECT {thread_columns}, c.* FROM comment_threads t LEFT JOIN ({seek}) c ON 1 = 1"
        f" WHERE t.target_type = ${params + 1} AND t.target_id = ${params + 2}"
        f" ORDER BY c.{column} DESC, c.id DESC"
    )


@cache
def _thread_columns() -> list[str]:
    return [c.strip() for c in columns(CommentThread).split(",")]


async def _recommended(
    thread_id: int | None,
    first: int | None,
    after: str | None,
    now: datetime,
    authors: dict[int, Profile] | None,
) -> Page[Comment]:
    """HOT with a few fresh comments placed at fixed slots (see ranking).

    The cursor carries the position, the HOT key reached, the fresh ids chosen on the first
    page and how many of them were placed, so later pages continue both streams exactly.
    """
    size = page_size(first)
    raw = decode_cursor(after, 5)
    if thread_id is None:
        return Page([], [], False, after is not None)
    fresh: dict[int, Comment] = {}
    if raw is None:
        position, hot_key, used = 0, None, 0
        since = now - ranking.FRESH_WINDOW
        picked = await _seek(
            CommentOrder.NEWEST, thread_id, ranking.FRESH_COUNT, None, since=since, authors=authors
        )
        fresh_ids = [c.id for c in picked]
        fresh = {c.id: c for c in picked}
    else:
        position, hot_value, hot_pk, fresh_ids, used = raw
        if not (isinstance(position, int) and isinstance(used, int)):
            raise _bad_cursor()
        if not isinstance(fresh_ids, list) or not all(isinstance(i, int) for i in fresh_ids):
            raise _bad_cursor()
        hot_key = None if hot_pk is None else _sort_key(CommentOrder.HOT, [hot_value, hot_pk])
        if fresh_ids[used:]:
            fresh = {c.id: c for c in await by_ids_listed(fresh_ids[used:])}
    hot = await _seek(
        CommentOrder.HOT, thread_id, size + 1, hot_key, exclude=fresh_ids, authors=authors
    )
    items: list[Comment] = []
    cursors: list[str] = []
    taken = 0
    while len(items) <= size:
        # A fresh comment takes its slot, or any slot once HOT has nothing left.
        if used < len(fresh_ids) and (position in ranking.FRESH_SLOTS or taken >= len(hot)):
            row = fresh.get(fresh_ids[used])
            used += 1
            if row is None:  # hidden or deleted since the first page
                continue
        elif taken < len(hot):
            row = hot[taken]
            taken += 1
            hot_key = (row.hot_score, row.id)
        else:
            break
        position += 1
        items.append(row)
        key = list(hot_key) if hot_key is not None else [None, None]
        cursors.append(encode_cursor([position, *key, fresh_ids, used]))
    has_next = len(items) > size
    return Page(items[:size], cursors[:size], has_next, after is not None)


async def by_ids_listed(ids: Sequence[int]) -> list[Comment]:
    return list(await Comment.filter(id__in=list(ids), listed=True))


async def replies_page(parent_id: int, first: int | None, after: str | None) -> Page[Comment]:
    """A floor in order, oldest first."""
    size = page_size(first)
    raw = decode_cursor(after, 1)
    where = "parent_id = $1 AND listed"
    params: list[Any] = [parent_id]
    if raw is not None:
        if not isinstance(raw[0], int):
            raise _bad_cursor()
        where += " AND id > $2"
        params.append(raw[0])
    rows = await fetch_comments(
        f"SELECT * FROM comments WHERE {where} ORDER BY id LIMIT {size + 1}", params
    )
    return make_page(rows, size, lambda c: [c.id], has_previous=after is not None)


async def first_replies(limit: int, parent_ids: Sequence[int]) -> dict[int, list[Comment]]:
    """The first ``limit`` replies of each floor in one query (a loader for reply previews)."""
    return await first_of_each(Comment, "parent_id", parent_ids, "id", limit, "listed")
