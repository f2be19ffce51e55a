"""Impressions and clicks: counted in Redis as they come, written to the database in batches.

``record`` takes up to :data:`MAX_BATCH` events from a client. Each event is counted once per
(viewer, event id): one Lua script per batch sets a dedupe key per event (``SET NX`` with a
time to live a little over :data:`MAX_AGE`, after which the event would be refused as too old
anyway) and, for the new ones only, adds to the pending counts (a hash: campaign, day in the
campaign's time zone, region, kind), the pending viewers (a set, for unique viewers) and the
pending clicks (a list, for conversions).

``flush`` (the ``promotion_flush`` cron job, every minute) renames the three pending keys to a
batch of their own in one atomic script, so events arriving meanwhile start a new batch, and
writes the batch in one transaction whose first statement inserts the batch id into
``promotion_flushes``. A flush that is retried or raced (two workers, or a crash between the
commit and deleting the keys) finds the batch id taken and only deletes the keys: the counts
in the database are exact whatever the duplicates and the concurrency.

Without Redis (the embedded default) the same structures live in this process's memory and
the flush runs in-process, at most every :data:`EMBEDDED_FLUSH_SECONDS` after an ingest.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from ncm.errors import InvalidInput
from ncm.kit.db import is_postgres
from ncm.kit.redis import get_redis, namespaced
from ncm.kit.sql import sql
from ncm.promotion import live
from ncm.promotion.errors import PromotionErrorCode
from ncm.promotion.models import EventKind, PromotionClick, PromotionFlush
from ncm.promotion.profiles import ViewerProfile

MAX_BATCH = 100
MAX_AGE = timedelta(days=1)
FUTURE_SLACK = timedelta(minutes=2)  # device clocks run a little ahead
DEDUPE_SECONDS = int((MAX_AGE + FUTURE_SLACK).total_seconds()) + 600
EMBEDDED_FLUSH_SECONDS = 5.0
EVENT_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
CHUNK = 1000

_INGEST = """
local accepted = {}
for i = 2, #ARGV, 4 do
  if redis.call('SET', ARGV[i], '1', 'NX', 'EX', ARGV[1]) then
    redis.call('HINCRBY', KEYS[1], ARGV[i + 1], 1)
    if ARGV[i + 2] ~= '' then redis.call('SADD', KEYS[2], ARGV[i + 2]) end
    if ARGV[i + 3] ~= '' then redis.call('RPUSH', KEYS[3], ARGV[i + 3]) end
    accepted[#accepted + 1] = 1
  else
    accepted[#accepted + 1] = 0
  end
end
return accepted
"""

_CLAIM = """
for i = 1, 3 do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('RENAME', KEYS[i], ARGV[i + 1]) end
end
redis.call('SADD', KEYS[4], ARGV[1])
return 1
"""


@dataclass(frozen=True)
class EventIn:
    event_id: str
    campaign_id: int
    placement: str
    kind: EventKind
    at: datetime


@dataclass
class Outcome:
    accepted: int = 0
    duplicates: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (event id, reason)


@dataclass
class _Memory:
    seen: dict[str, float] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    viewers: set[str] = field(default_factory=set)
    clicks: list[str] = field(default_factory=list)
    last_flush: float = field(default_factory=time.monotonic)
    flushing: bool = False


_memory = _Memory()


def reset() -> None:
    """For tests: forget what the embedded default holds in memory."""
    global _memory
    _memory = _Memory()


def _key(name: str) -> str:
    return namespaced("promo", name)


def _reason(event: EventIn, snapshot: live.Snapshot, now: datetime) -> str | None:
    if not EVENT_ID_RE.match(event.event_id):
        return "INVALID_EVENT_ID"
    campaign = snapshot.campaigns.get(event.campaign_id)
    if campaign is None:
        return "UNKNOWN_CAMPAIGN"
    if event.placement not in campaign.placements:
        return "WRONG_PLACEMENT"
    at = event.at if event.at.tzinfo else event.at.replace(tzinfo=UTC)
    if at > now + FUTURE_SLACK:
        return "IN_THE_FUTURE"
    if at < now - MAX_AGE:
        return "TOO_OLD"
    stamp = at.timestamp()
    if stamp < campaign.starts - FUTURE_SLACK.total_seconds() or stamp > campaign.ends + 3600:
        return "OUTSIDE_SCHEDULE"
    return None


async def record(
    viewer: ViewerProfile, events: Sequence[EventIn], now: datetime | None = None
) -> Outcome:
    """Count a client's batch of impressions and clicks (each event id once per viewer)."""
    if len(events) > MAX_BATCH:
        raise InvalidInput(
            f"At most {MAX_BATCH} events per call.",
            field="events",
            code=PromotionErrorCode.TOO_MANY_EVENTS,
        )
    now = now or datetime.now(UTC)
    snapshot = await live.ensure_fresh()
    outcome = Outcome()
    args: list[str] = []
    ids: list[str] = []
    region = viewer.region or ""
    for event in events:
        reason = _reason(event, snapshot, now)
        if reason is not None:
            outcome.refused.append((event.event_id, reason))
            continue
        campaign = snapshot.campaigns[event.campaign_id]
        at = (event.at if event.at.tzinfo else event.at.replace(tzinfo=UTC)).astimezone(UTC)
        day = at.astimezone(campaign.zone).date().isoformat()
        dedupe = f"{viewer.key}:{event.event_id}"
        kind = "I" if event.kind == EventKind.IMPRESSION else "C"
        member = ""
        click = ""
        if viewer.user_id is not None:
            if kind == "I":
                member = f"{campaign.id}|{day}|{viewer.user_id}|{region}"
            else:
                click = f"{campaign.id}|{viewer.user_id}|{region}|{at.isoformat()}|{dedupe}"
        args += [_key(f"ev:{dedupe}"), f"{campaign.id}|{day}|{region}|{kind}", member, click]
        ids.append(event.event_id)
    if not ids:
        return outcome
    redis = await get_redis()
    if redis is not None:
        script = redis.register_script(_INGEST)
        flags = await script(
            keys=[_key("pending:c"), _key("pending:v"), _key("pending:k")],
            args=[DEDUPE_SECONDS, *args],
        )
        new = [bool(int(f)) for f in flags]
    else:
        new = _ingest_memory(args)
    outcome.accepted = sum(new)
    outcome.duplicates = len(new) - outcome.accepted
    if redis is None and time.monotonic() - _memory.last_flush >= EMBEDDED_FLUSH_SECONDS:
        await _schedule_embedded_flush()
    return outcome


def _ingest_memory(args: list[str]) -> list[bool]:
    mem = _memory
    clock = time.monotonic()
    if len(mem.seen) > 1_000_000:  # forget what expired
        mem.seen = {k: v for k, v in mem.seen.items() if v > clock}
    new: list[bool] = []
    for i in range(0, len(args), 4):
        dedupe, counter, member, click = args[i : i + 4]
        expires = mem.seen.get(dedupe)
        if expires is not None and expires > clock:
            new.append(False)
            continue
        mem.seen[dedupe] = clock + DEDUPE_SECONDS
        mem.counts[counter] += 1
        if member:
            mem.viewers.add(member)
        if click:
            mem.clicks.append(click)
        new.append(True)
    return new


async def _schedule_embedded_flush() -> None:
    from ncm.kit.jobs import enqueue

    if _memory.flushing:
        return
    _memory.flushing = True
    _memory.last_flush = time.monotonic()
    await enqueue("promotion_flush")


@dataclass
class FlushResult:
    batches: int = 0
    events: int = 0
    skipped: int = 0  # batches another flush had written already


async def flush() -> FlushResult:
    """Write every pending batch to the database (idempotent; safe to run concurrently)."""
    result = FlushResult()
    redis: Any = await get_redis()
    if redis is None:
        mem = _memory
        counts, viewers, clicks = mem.counts, mem.viewers, mem.clicks
        mem.counts, mem.viewers, mem.clicks = Counter(), set(), []
        mem.last_flush = time.monotonic()
        try:
            if counts:
                events = await _write(uuid.uuid4().hex, counts, viewers, clicks)
                result.batches, result.events = 1, events or 0
        except BaseException:  # put them back for the next flush
            mem.counts.update(counts)
            mem.viewers |= viewers
            mem.clicks[:0] = clicks
            raise
        finally:
            mem.flushing = False
        return result
    batch = uuid.uuid4().hex
    claim = redis.register_script(_CLAIM)
    await claim(
        keys=[_key("pending:c"), _key("pending:v"), _key("pending:k"), _key("inflight")],
        args=[batch, *(_key(f"batch:{batch}:{part}") for part in "cvk")],
    )
    for raw in await redis.smembers(_key("inflight")):
        name = raw.decode() if isinstance(raw, bytes) else raw
        parts = [_key(f"batch:{name}:{part}") for part in "cvk"]
        raw_counts = await redis.hgetall(parts[0])
        counts = Counter(
            {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw_counts.items()}
        )
        viewers = {
            m.decode() if isinstance(m, bytes) else m for m in await redis.smembers(parts[1])
        }
        clicks = [
            c.decode() if isinstance(c, bytes) else c for c in await redis.lrange(parts[2], 0, -1)
        ]
        events = await _write(name, counts, viewers, clicks) if counts else 0
        if events is None:
            result.skipped += 1
        else:
            result.batches += bool(counts)
            result.events += events
        await redis.delete(*parts)
        await redis.srem(_key("inflight"), name)
    return result


def _day(value: str) -> Any:
    parsed = date.fromisoformat(value)
    return parsed if is_postgres() else parsed.isoformat()


async def _write(
    batch_id: str, counts: Counter[str], viewers: set[str], clicks: list[str]
) -> int | None:
    """One batch in one transaction; ``None`` when the batch was written before."""
    stats: dict[tuple[int, str, str], list[int]] = {}  # -> [impressions, clicks, viewers]
    for name, n in counts.items():
        cid, day, region, kind = name.split("|")
        row = stats.setdefault((int(cid), day, region), [0, 0, 0])
        row[0 if kind == "I" else 1] += n
    try:
        async with in_transaction() as conn:
            await PromotionFlush.create(
                using_db=conn, batch_id=batch_id, events=sum(counts.values())
            )
            members = [m.split("|") for m in viewers]
            for start in range(0, len(members), CHUNK):
                chunk = members[start : start + CHUNK]
                params: list[Any] = []
                values: list[str] = []
                for cid, day, user_id, _ in chunk:
                    n = len(params)
                    values.append(f"(${n + 1}, ${n + 2}, ${n + 3})")
                    params += [int(cid), _day(day), int(user_id)]
                region_of = {(int(c), d, int(u)): r for c, d, u, r in chunk}
                inserted = await conn.execute_query_dict(
                    sql(
                        "INSERT INTO promotion_viewers (campaign_id, day, user_id) VALUES "
                        + ", ".join(values)
                        + " ON CONFLICT (campaign_id, day, user_id) DO NOTHING"
                        " RETURNING campaign_id, day, user_id"
                    ),
                    params,
                )
                for hit in inserted:
                    seen_day = str(hit["day"])[:10]
                    key = (int(hit["campaign_id"]), seen_day, int(hit["user_id"]))
                    stat = stats.setdefault((key[0], seen_day, region_of[key]), [0, 0, 0])
                    stat[2] += 1
            items = list(stats.items())
            for start in range(0, len(items), CHUNK):
                params = []
                values = []
                for (stat_cid, stat_day, region), (imp, clk, uniq) in items[start : start + CHUNK]:
                    n = len(params)
                    values.append(f"(${n + 1}, ${n + 2}, ${n + 3}, ${n + 4}, ${n + 5}, ${n + 6})")
                    params += [stat_cid, _day(stat_day), region, imp, clk, uniq]
                await conn.execute_query(
                    sql(
                        "INSERT INTO promotion_daily_stats "
                        "(campaign_id, day, region, impressions, clicks, unique_viewers) VALUES "
                        + ", ".join(values)
                        + " ON CONFLICT (campaign_id, day, region) DO UPDATE SET "
                        "impressions = promotion_daily_stats.impressions + excluded.impressions, "
                        "clicks = promotion_daily_stats.clicks + excluded.clicks, "
                        "unique_viewers = promotion_daily_stats.unique_viewers"
                        " + excluded.unique_viewers"
                    ),
                    params,
                )
            rows = []
            for click in clicks:
                cid, user_id, region, at, dedupe = click.split("|", 4)
                rows.append(
                    PromotionClick(
                        event_key=dedupe[:100],
                        campaign_id=int(cid),
                        user_id=int(user_id),
                        region=region,
                        at=datetime.fromisoformat(at),
                    )
                )
            for start in range(0, len(rows), CHUNK):
                await PromotionClick.bulk_create(
                    rows[start : start + CHUNK], ignore_conflicts=True, using_db=conn
                )
    except IntegrityError:
        if await PromotionFlush.exists(batch_id=batch_id):
            return None
        raise
    return sum(counts.values())


async def pending_days() -> set[str]:
    """The days (ISO dates) of counts not yet in the database: pending, or in a batch a
    flush claimed and has not finished (partition retention waits for them)."""
    redis: Any = await get_redis()
    if redis is None:
        return {name.split("|")[1] for name in _memory.counts}
    names = [_key("pending:c")]
    for raw in await redis.smembers(_key("inflight")):
        names.append(_key(f"batch:{raw.decode() if isinstance(raw, bytes) else raw}:c"))
    days = set()
    for name in names:
        for counter in await redis.hkeys(name):
            days.add((counter.decode() if isinstance(counter, bytes) else counter).split("|")[1])
    return days


async def pending_events() -> int:
    """Events counted but not yet in the database (metrics, tests)."""
    redis: Any = await get_redis()
    if redis is None:
        return sum(_memory.counts.values())
    values = await redis.hvals(_key("pending:c"))
    return sum(int(v) for v in values)
