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
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

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
MAX_AGE_SECONDS = MAX_AGE.total_seconds()
FUTURE_SLACK_SECONDS = FUTURE_SLACK.total_seconds()
EMBEDDED_FLUSH_SECONDS = 5.0
EVENT_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
CHUNK = 1000

# ARGV: the dedupe keys' time to live, their prefix (the viewer's), the batch's slots (one line
# per distinct "counter<TAB>viewer member", the member '' for none) and its events (one line
# per event: "id<TAB>slot<TAB>click", the click '' for an impression). Each new event adds 1 to
# its slot's counter, its slot's member to the viewers, and its click to the clicks; the answer
# is one character per event, '1' new or '0' a duplicate. Packing the batch in two strings keeps
# the client's cost of a call flat (4 arguments instead of 4 per event).
_INGEST = r"""
local ttl, prefix = ARGV[1], ARGV[2]
local counters, members = {}, {}
for line in string.gmatch(ARGV[3], '[^\n]+') do
  local tab = string.find(line, '\t', 1, true)
  counters[#counters + 1] = string.sub(line, 1, tab - 1)
  members[#members + 1] = string.sub(line, tab + 1)
end
local added, clicks, out = {}, {}, {}
for line in string.gmatch(ARGV[4], '[^\n]+') do
  local a = string.find(line, '\t', 1, true)
  local b = string.find(line, '\t', a + 1, true)
  if redis.call('SET', prefix .. string.sub(line, 1, a - 1), '1', 'NX', 'EX', ttl) then
    local slot = tonumber(string.sub(line, a + 1, b - 1))
    added[slot] = (added[slot] or 0) + 1
    if b < #line then clicks[#clicks + 1] = string.sub(line, b + 1) end
    out[#out + 1] = '1'
  else
    out[#out + 1] = '0'
  end
end
for slot, n in pairs(added) do
  redis.call('HINCRBY', KEYS[1], counters[slot], n)
  if members[slot] ~= '' then redis.call('SADD', KEYS[2], members[slot]) end
end
if #clicks > 0 then redis.call('RPUSH', KEYS[3], unpack(clicks)) end
return table.concat(out)
"""

_CLAIM = """
for i = 1, 3 do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('RENAME', KEYS[i], ARGV[i + 1]) end
end
redis.call('SADD', KEYS[4], ARGV[1])
return 1
"""


class EventIn(NamedTuple):
    """One event of a client's batch (a tuple: a batch builds 100 of them per call)."""

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


def _when(campaign: live.LiveCampaign, at: datetime, now: float) -> tuple[str | None, str, str]:
    """``(reason refused or None, day in the campaign's time zone, the time in UTC as ISO)``."""
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    stamp = at.timestamp()
    if stamp > now + FUTURE_SLACK_SECONDS:
        return "IN_THE_FUTURE", "", ""
    if stamp < now - MAX_AGE_SECONDS:
        return "TOO_OLD", "", ""
    if stamp < campaign.starts - FUTURE_SLACK_SECONDS or stamp > campaign.ends + 3600:
        return "OUTSIDE_SCHEDULE", "", ""
    return None, at.astimezone(campaign.zone).date().isoformat(), at.astimezone(UTC).isoformat()


_scripts: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _ingest_script(redis: Any) -> Any:
    """The ingest script, registered once per connection pool (not hashed on every call)."""
    script = _scripts.get(redis)
    if script is None:
        script = _scripts[redis] = redis.register_script(_INGEST)
    return script


async def record(
    viewer: ViewerProfile, events: Sequence[EventIn], now: datetime | None = None
) -> Outcome:
    """Count a client's batch of impressions and clicks (each event id once per viewer).

    The batch's checks and keys are built in one pass: the campaign's schedule and time zone
    are looked at once per (campaign, time) of the batch (a client sends a batch's events
    with few distinct times), and the whole batch is one Lua call."""
    if len(events) > MAX_BATCH:
        raise InvalidInput(
            f"At most {MAX_BATCH} events per call.",
            field="events",
            code=PromotionErrorCode.TOO_MANY_EVENTS,
        )
    clock = (now or datetime.now(UTC)).timestamp()
    snapshot = await live.ensure_fresh()
    campaigns = snapshot.campaigns
    outcome = Outcome()
    refused = outcome.refused
    region = viewer.region or ""
    user_id = viewer.user_id
    dedupe_prefix = f"{viewer.key}:"
    times: dict[tuple[int, datetime], tuple[str | None, str, str]] = {}
    slots: dict[tuple[str, str], int] = {}  # (counter, viewer member) -> its number, from 1
    accepted: list[tuple[str, int, str]] = []  # (event id, slot, click)
    valid_id = EVENT_ID_RE.match
    for event in events:
        event_id = event.event_id
        if not valid_id(event_id):
            refused.append((event_id, "INVALID_EVENT_ID"))
            continue
        campaign = campaigns.get(event.campaign_id)
        if campaign is None:
            refused.append((event_id, "UNKNOWN_CAMPAIGN"))
            continue
        if event.placement not in campaign.placements:
            refused.append((event_id, "WRONG_PLACEMENT"))
            continue
        when = times.get((campaign.id, event.at))
        if when is None:
            when = times[(campaign.id, event.at)] = _when(campaign, event.at, clock)
        reason, day, at = when
        if reason is not None:
            refused.append((event_id, reason))
            continue
        impression = event.kind == EventKind.IMPRESSION
        member = ""
        click = ""
        if user_id is not None:
            if impression:
                member = f"{campaign.id}|{day}|{user_id}|{region}"
            else:
                click = f"{campaign.id}|{user_id}|{region}|{at}|{dedupe_prefix}{event_id}"
        slot_key = (f"{campaign.id}|{day}|{region}|{'I' if impression else 'C'}", member)
        slot = slots.get(slot_key)
        if slot is None:
            slot = slots[slot_key] = len(slots) + 1
        accepted.append((event_id, slot, click))
    if not accepted:
        return outcome
    redis = await get_redis()
    if redis is not None:
        flags = await _ingest_script(redis)(
            keys=[_key("pending:c"), _key("pending:v"), _key("pending:k")],
            args=[
                DEDUPE_SECONDS,
                _key("ev:") + dedupe_prefix,
                "\n".join(f"{counter}\t{member}" for counter, member in slots),
                "\n".join(f"{i}\t{slot}\t{click}" for i, slot, click in accepted),
            ],
        )
        outcome.accepted = flags.count(b"1" if isinstance(flags, bytes) else "1")
    else:
        outcome.accepted = _ingest_memory(dedupe_prefix, list(slots), accepted)
    outcome.duplicates = len(accepted) - outcome.accepted
    if redis is None and time.monotonic() - _memory.last_flush >= EMBEDDED_FLUSH_SECONDS:
        await _schedule_embedded_flush()
    return outcome


def _ingest_memory(
    dedupe_prefix: str, slots: list[tuple[str, str]], events: list[tuple[str, int, str]]
) -> int:
    """The ingest script's work in this process's memory; returns how many events were new."""
    mem = _memory
    clock = time.monotonic()
    if len(mem.seen) > 1_000_000:  # forget what expired
        mem.seen = {k: v for k, v in mem.seen.items() if v > clock}
    new = 0
    for event_id, slot, click in events:
        dedupe = dedupe_prefix + event_id
        expires = mem.seen.get(dedupe)
        if expires is not None and expires > clock:
            continue
        mem.seen[dedupe] = clock + DEDUPE_SECONDS
        counter, member = slots[slot - 1]
        mem.counts[counter] += 1
        if member:
            mem.viewers.add(member)
        if click:
            mem.clicks.append(click)
        new += 1
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
