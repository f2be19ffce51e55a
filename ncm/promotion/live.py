"""The live set: every campaign that can be served or tracked, held in memory per process.

``promotions(placement, limit)`` reads only this (and the viewer's cached profile): no
database, and no Redis round trip per request. Once a second at most, one request's
``ensure_fresh`` does the tick: one Redis pipeline that adds this process's pacing counts to
the shared ones, reads them back, and reads the version key. Every change to a campaign that
matters for serving bumps that version (``changed``), so every process reloads its live set
(one query) within a second; the process that made the change reloads at once. Without Redis
(the embedded default: one process) the version and the counts are in memory.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ncm.kit.redis import get_redis, namespaced
from ncm.kit.sql import fetch
from ncm.promotion.models import Audience, Campaign, CampaignStatus
from ncm.promotion.pacing import Pacer, PaceState
from ncm.promotion.profiles import ViewerProfile

log = logging.getLogger("ncm.promotion")
SYNC_SECONDS = 1.0
TRACKABLE_AFTER_END = timedelta(days=2)
S = CampaignStatus


@dataclass(frozen=True, slots=True)
class LiveCampaign:
    id: int
    partner_id: int
    kind: str
    object_kind: str
    object_id: int | None
    title: str
    image_url: str | None
    link_url: str | None
    event_at: datetime | None
    venue: str | None
    placements: frozenset[str]
    regions: frozenset[str]
    languages: tuple[str, ...]
    audience: str
    genres: frozenset[int]
    starts: float
    ends: float
    zone: ZoneInfo
    priority: int
    weight: int
    booked: int
    servable: bool

    def targets(self, viewer: ViewerProfile) -> bool:
        if self.regions and viewer.region not in self.regions:
            return False
        if self.languages:
            lang = (viewer.language or "").lower()
            if not lang or not any(lang == t or lang.startswith(t + "-") for t in self.languages):
                return False
        if self.audience == Audience.MEMBERS and not viewer.member:
            return False
        if self.audience == Audience.NON_MEMBERS and viewer.member:
            return False
        return not self.genres or not self.genres.isdisjoint(viewer.genres)


@dataclass
class Snapshot:
    version: str
    campaigns: dict[int, LiveCampaign]  # servable and trackable
    by_placement: dict[str, list[LiveCampaign]]  # servable only


@dataclass
class _State:
    snapshot: Snapshot | None = None
    dirty: bool = True
    pacer: Pacer = field(default_factory=Pacer)
    last_sync: float = 0.0
    syncing: bool = False
    local_version: int = 0
    # The embedded default's shared counters (Redis's hash when configured).
    totals: Counter[str] = field(default_factory=Counter)
    seen_totals: dict[str, int] = field(default_factory=dict)


_state = _State()


def _version_key() -> str:
    return namespaced("promo", "version")


def _counts_key() -> str:
    return namespaced("promo", "pace")


async def changed() -> None:
    """A campaign changed in a way serving must see: reload here now, elsewhere within a second."""
    _state.dirty = True
    _state.local_version += 1
    redis = await get_redis()
    if redis is not None:
        await redis.incr(_version_key())


def reset() -> None:
    """For tests: forget the live set and the pacing state."""
    global _state
    _state = _State()
    _ranks.clear()


async def _load(version: str) -> Snapshot:
    from ncm.promotion import objects

    now = datetime.now(UTC)
    rows = await Campaign.filter(
        status__in=[S.APPROVED, S.SCHEDULED, S.LIVE, S.PAUSED, S.ENDED],
        ends_at__gt=now - TRACKABLE_AFTER_END,
    )
    rows = [r for r in rows if r.status != S.ENDED or r.updated_at > now - TRACKABLE_AFTER_END]
    refs = [(r.object_kind, r.object_id) for r in rows if r.object_id is not None]
    ok = await objects.available(refs) if refs else set()
    campaigns: dict[int, LiveCampaign] = {}
    by_placement: dict[str, list[LiveCampaign]] = {}
    for r in rows:
        available = r.object_id is None or (r.object_kind, r.object_id) in ok
        live = LiveCampaign(
            id=r.id,
            partner_id=r.partner_id,
            kind=r.kind.value,
            object_kind=r.object_kind.value,
            object_id=r.object_id,
            title=r.title,
            image_url=r.image_url,
            link_url=r.link_url,
            event_at=r.event_at,
            venue=r.venue,
            placements=frozenset(r.placements),
            regions=frozenset(r.regions),
            languages=tuple(lang.lower() for lang in r.languages),
            audience=r.audience.value,
            genres=frozenset(r.genre_ids),
            starts=r.starts_at.timestamp(),
            ends=r.ends_at.timestamp(),
            zone=ZoneInfo(r.time_zone),
            priority=r.priority,
            weight=r.weight,
            booked=r.booked_impressions,
            servable=r.status in (S.SCHEDULED, S.LIVE) and available and r.object_available,
        )
        campaigns[r.id] = live
        if live.servable:
            for placement in live.placements:
                by_placement.setdefault(placement, []).append(live)
    paced = [c.id for c in campaigns.values() if c.servable and c.booked]
    if paced:
        delivered = await fetch(
            "SELECT campaign_id, SUM(impressions) AS n FROM promotion_daily_stats "
            f"WHERE campaign_id IN ({', '.join(str(int(i)) for i in paced)}) GROUP BY campaign_id",
            [],
        )
        for row in delivered:
            # Impressions recorded are a floor for what was served (a Redis restart loses
            # the served counts, never the flushed impressions).
            state = _state.pacer.states.setdefault(int(row["campaign_id"]), PaceState())
            state.delivered = max(state.delivered, int(row["n"] or 0))
    return Snapshot(version, campaigns, by_placement)


async def _sync(now: float) -> str:
    """Share this process's pacing counts, read everyone's, recompute the rates; returns the
    current version."""
    pacer = _state.pacer
    eligible, admitted, served = pacer.take_counts()
    deltas: dict[str, int] = {}
    for prefix, counts in (("e", eligible), ("a", admitted), ("s", served)):
        for cid, n in counts.items():
            deltas[f"{prefix}{cid}"] = n
    redis = await get_redis()
    if redis is not None:
        pipe = redis.pipeline(transaction=False)
        for name, n in deltas.items():
            pipe.hincrby(_counts_key(), name, n)
        pipe.hgetall(_counts_key())
        pipe.get(_version_key())
        results = await pipe.execute()
        raw_totals, raw_version = results[-2], results[-1]
        totals = {
            (k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw_totals.items()
        }
        version = f"r{int(raw_version or 0)}:{_state.local_version}"
    else:
        _state.totals.update(deltas)
        totals = dict(_state.totals)
        version = f"l{_state.local_version}"
    seconds = now - _state.last_sync if _state.last_sync else 0.0
    previous = _state.seen_totals
    _state.seen_totals = totals

    def delta(prefix: str) -> Counter[int]:
        out: Counter[int] = Counter()
        if not previous:
            return out
        for name, n in totals.items():
            if name.startswith(prefix):
                out[int(name[1:])] = max(0, n - previous.get(name, 0))
        return out

    snapshot = _state.snapshot
    paced = (
        {c.id: (c.booked, c.ends) for c in snapshot.campaigns.values() if c.booked and c.servable}
        if snapshot
        else {}
    )
    delivered = {int(k[1:]): v for k, v in totals.items() if k.startswith("s")}
    pacer.tick(paced, now, seconds, delta("e"), delta("a"), delta("s"), delivered)
    _state.last_sync = now
    return version


async def ensure_fresh(now: float | None = None) -> Snapshot:
    """The current live set; at most once a second this also syncs pacing and the version."""
    now = time.time() if now is None else now
    state = _state
    if state.snapshot is None or state.dirty or now - state.last_sync >= SYNC_SECONDS:
        if state.syncing and state.snapshot is not None:
            return state.snapshot  # another request of this process is at it
        state.syncing = True
        try:
            version = await _sync(now)
            if state.snapshot is None or state.dirty or version != state.snapshot.version:
                state.dirty = False
                state.snapshot = await _load(version)
                await _sync(now)  # rates for what was just loaded
        except Exception:
            if state.snapshot is None:
                raise
            state.last_sync = now  # try again in a second, not on every request
            log.warning(
                "could not refresh the live promotions; serving the last set", exc_info=True
            )
        finally:
            state.syncing = False
    assert state.snapshot is not None
    return state.snapshot


RANK_CACHE_SIZE = 10_000
_ranks: OrderedDict[tuple[str, int, str], tuple[Snapshot, ViewerProfile, list[Ranked]]] = (
    OrderedDict()
)
Ranked = tuple[LiveCampaign, float]


def _units(*parts: object) -> tuple[float, float]:
    """Two stable numbers in (0, 1] from ``parts`` (the same in every process)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=16).digest()
    return (
        (int.from_bytes(digest[:8], "big") + 1) / 2**64,
        (int.from_bytes(digest[8:], "big") + 1) / 2**64,
    )


def _ranking(snapshot: Snapshot, viewer: ViewerProfile, placement: str, hour: int) -> list[Ranked]:
    """The viewer's order of the placement's targeted campaigns for the hour, each with its
    pacing number: by priority, then by the weighted draw ``-ln(u) / weight`` (smallest
    first), ``u`` a hash of viewer, hour, placement and campaign. Kept in a small LRU map, so
    a viewer who comes back within the hour costs no hashing."""
    key = (viewer.key, hour, placement)
    entry = _ranks.get(key)
    if entry is not None and entry[0] is snapshot and entry[1] == viewer:
        _ranks.move_to_end(key)
        return entry[2]
    ranked = []
    for c in snapshot.by_placement.get(placement, ()):
        if c.targets(viewer):
            draw, pace = _units(viewer.key, hour, placement, c.id)
            ranked.append((-c.priority, -math.log(draw) / c.weight, pace, c))
    ranked.sort(key=lambda item: (item[0], item[1]))
    found = [(c, pace) for _, _, pace, c in ranked]
    _ranks[key] = (snapshot, viewer, found)
    if len(_ranks) > RANK_CACHE_SIZE:
        _ranks.popitem(last=False)
    return found


def select(
    snapshot: Snapshot, viewer: ViewerProfile, placement: str, limit: int, now: float
) -> list[LiveCampaign]:
    """The campaigns to show: the viewer's ranking for the hour (priority, then the weighted
    draw), keeping those live now and admitted by pacing, the first ``limit``. A paced
    campaign whose turn comes is an *opportunity*; it is admitted when its hash number is
    below its pacing rate."""
    pacer = _state.pacer
    chosen: list[LiveCampaign] = []
    for c, pace in _ranking(snapshot, viewer, placement, int(now // 3600)):
        if not c.starts <= now < c.ends:
            continue
        if c.booked:
            pacer.eligible[c.id] += 1
            rate = pacer.rate(c.id)
            if (rate < 1.0 and pace > rate) or pacer.exhausted(c.id, c.booked):
                continue
            pacer.admitted[c.id] += 1
            pacer.served[c.id] += 1
        chosen.append(c)
        if len(chosen) == limit:
            break
    return chosen


async def promotions(
    viewer: ViewerProfile, placement: str, limit: int, now: float | None = None
) -> list[LiveCampaign]:
    now = time.time() if now is None else now
    snapshot = await ensure_fresh(now)
    return select(snapshot, viewer, placement, limit, now)


def pacer() -> Pacer:
    return _state.pacer
