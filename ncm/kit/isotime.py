"""``datetime.isoformat()`` in a fifth of the time, for the timestamps a page writes per row
(each comment's ``createdAt`` and its cursor).

orjson writes a datetime as RFC 3339, which is ``isoformat()`` character for character when
the offset is whole minutes; a zone whose offset has seconds (local mean time before 1900)
is not, so only naive and UTC timestamps (all that ncm stores and reads) take orjson, and
anything else ``isoformat()`` itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

import orjson
from tortoise import timezone as tortoise_timezone

# Fixed offsets of zero: asyncpg's (datetime.UTC) and the zones Tortoise converts into.
_ZERO: frozenset[tzinfo] = frozenset(
    {UTC, ZoneInfo("UTC"), ZoneInfo("Etc/UTC"), tortoise_timezone.ZoneInfo("UTC")}
)


def isoformat(at: datetime) -> str:
    """``at.isoformat()``, the same text."""
    return isoformat_bytes(at).decode()


def isoformat_bytes(at: datetime) -> bytes:
    """``at.isoformat().encode()``, the same bytes."""
    zone = at.tzinfo
    if type(at) is datetime and (zone is None or zone in _ZERO):
        return orjson.dumps(at)[1:-1]
    return at.isoformat().encode()
