"""What targeting needs to know about a viewer, cached in the process.

Serving touches no database per request: a logged-in viewer's region, language, membership
and favourite genres are loaded once (three small queries) and kept for
:data:`TTL_SECONDS` in a bounded LRU map.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ncm.accounts.models import User
from ncm.kit.sql import fetch

TTL_SECONDS = 600.0
MAX_ENTRIES = 200_000
GENRE_DAYS = 30
TOP_GENRES = 5


@dataclass(frozen=True, slots=True)
class ViewerProfile:
    key: str  # stable: selection is a hash of (key, hour, campaign)
    user_id: int | None
    region: str | None
    language: str | None
    member: bool
    genres: frozenset[int]


_cache: OrderedDict[int, tuple[float, ViewerProfile]] = OrderedDict()


def anonymous(client: str) -> ViewerProfile:
    digest = hashlib.blake2b(client.encode(), digest_size=8).hexdigest()
    return ViewerProfile(f"a{digest}", None, None, None, False, frozenset())


def cached(user_id: int, now: float | None = None) -> ViewerProfile | None:
    entry = _cache.get(user_id)
    if entry is None or entry[0] < (now or time.monotonic()):
        return None
    _cache.move_to_end(user_id)
    return entry[1]


async def profile(user_id: int) -> ViewerProfile | None:
    """The viewer's profile (from the cache, else three queries); ``None`` for no such user."""
    now = time.monotonic()
    found = cached(user_id, now)
    if found is not None:
        return found
    user = await User.get_or_none(id=user_id)
    if user is None:
        return None
    from ncm.billing.entitlement import entitlement

    member = (await entitlement(user_id)).active
    since = datetime.now(UTC) - timedelta(days=GENRE_DAYS)
    rows = await fetch(
        "SELECT tg.genre_id AS genre_id, COUNT(*) AS n FROM play_events p "
        "JOIN track_genres tg ON tg.track_id = p.track_id "
        "WHERE p.user_id = $1 AND p.started_at >= $2 "
        "GROUP BY tg.genre_id ORDER BY n DESC LIMIT $3",
        [user_id, since, TOP_GENRES],
    )
    found = ViewerProfile(
        key=f"u{user_id}",
        user_id=user_id,
        region=user.region,
        language=user.language,
        member=member,
        genres=frozenset(int(r["genre_id"]) for r in rows),
    )
    _cache[user_id] = (now + TTL_SECONDS, found)
    while len(_cache) > MAX_ENTRIES:
        _cache.popitem(last=False)
    return found


def forget(user_id: int | None = None) -> None:
    if user_id is None:
        _cache.clear()
    else:
        _cache.pop(user_id, None)
