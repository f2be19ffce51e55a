"""Keyset pagination shared by every list: opaque cursors, a capped page size, one extra row.

A cursor is the sort key of the last row seen (never an offset), so a page at any depth
costs one index seek.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson

from ncm.config import get_settings
from ncm.errors import InvalidInput
from ncm.kit.isotime import isoformat_bytes
from ncm.kit.text import BIGINT_MAX

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 20


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next: bool
    has_previous: bool = False


# Values orjson writes exactly as ``json.dumps`` below does (ASCII text checked after).
_PLAIN = frozenset({int, str, bool, type(None)})


def _plain(value: Any) -> bool:
    """orjson writes ``value`` as ``json.dumps`` does: integers, text, booleans, null, and
    floats from 1e-4 up to 1e16 (outside that range the two write exponents differently:
    ``1e-05`` against ``0.00001``); a search score or a hot score is one of those."""
    kind = type(value)
    return kind in _PLAIN or (kind is float and (value == 0.0 or 1e-4 <= abs(value) < 1e16))


def encode_cursor(key: Sequence[Any]) -> str:
    """The key as compact JSON in unpadded URL-safe base64. A key of integers, ASCII text
    and ordinary floats (the usual ones) is written by orjson, byte for byte what
    ``json.dumps`` writes, in a fifth of the time; anything else (other floats, timestamps,
    other text) by ``json``."""
    items = list(key)
    raw = None
    if all(map(_plain, items)):
        try:
            raw = orjson.dumps(items)
        except TypeError:  # an integer past 64 bits
            raw = None
        if raw is not None and (not raw.isascii() or b"\x7f" in raw):  # json escapes DEL
            raw = None
    if raw is None:
        raw = json.dumps(items, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as exc:
        raise InvalidInput("This cursor is not valid.", field="after") from exc
    if not isinstance(key, list) or len(key) != arity or not all(map(_storable, key)):
        raise InvalidInput("This cursor is not valid.", field="after")
    return key


def _storable(value: Any) -> bool:
    """A cursor value a query can bind: forged cursors must not reach the database with
    integers past BIGINT, infinite floats or nested junk."""
    if value is None or isinstance(value, bool | str):
        return not isinstance(value, str) or len(value) <= 100
    if isinstance(value, int):
        return -BIGINT_MAX - 1 <= value <= BIGINT_MAX
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return len(value) <= 100 and all(isinstance(v, int) and _storable(v) for v in value)
    return False


def page_size(first: int | None) -> int:
    limit = get_settings().max_page_size
    if first is None:
        return DEFAULT_PAGE_SIZE
    if first < 0 or first > limit:
        raise InvalidInput(f"`first` must be between 0 and {limit}.", field="first")
    return first


def cursor_int(cursor: str | None) -> int | None:
    """For lists ordered by id alone: the id in the cursor."""
    key = decode_cursor(cursor, 1)
    if key is None:
        return None
    if not isinstance(key[0], int):
        raise InvalidInput("This cursor is not valid.", field="after")
    return key[0]


def make_page(
    rows: list[T],
    size: int,
    key: Any = None,
    *,
    has_previous: bool = False,
    cursor: Callable[[T], str] | None = None,
) -> Page[T]:
    """``rows`` was fetched with ``LIMIT size + 1``; ``key(row)`` gives its sort key (or
    ``cursor(row)`` its cursor, already encoded)."""
    has_next = len(rows) > size
    items = rows[:size]
    cursors = [cursor(r) for r in items] if cursor else [encode_cursor(key(r)) for r in items]
    return Page(items, cursors, has_next, has_previous)


def time_cursor(at: datetime, pk: int) -> str:
    """``encode_cursor([at.isoformat(), pk])``, written directly (a page of newest first makes
    one per row): an ISO timestamp holds nothing JSON escapes, and an id prints as JSON does."""
    raw = b'["%s",%d]' % (isoformat_bytes(at), pk)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def page_by_id_desc(queryset: Any, first: int | None, after: str | None) -> Page[Any]:
    """Newest first by primary key: ``WHERE id < cursor ORDER BY id DESC LIMIT n+1``."""
    size = page_size(first)
    last_id = cursor_int(after)
    if last_id is not None:
        queryset = queryset.filter(id__lt=last_id)
    rows = await queryset.order_by("-id").limit(size + 1)
    return make_page(rows, size, lambda r: [r.id], has_previous=after is not None)
