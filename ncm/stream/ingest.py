"""Batched play ingestion (PostgreSQL with Redis): ``reportPlay`` writes no row.

The request path runs one Lua script on Redis that, atomically, either finds the play id
already taken (its stored play is returned: a duplicate, or a conflict) or remembers it
(``SET`` with a time to live, ``NCM_PLAY_DEDUPE_SECONDS``), appends the play to a stream
(``XADD``) and to the viewer's pending recent plays (a sorted set).

:func:`drain` is the other side: a consumer of the stream's consumer group reads a batch
(``XREADGROUP``), writes it in one transaction (``INSERT ... SELECT FROM unnest(...) ON
CONFLICT (play_id, day) DO NOTHING`` and, in the same statement, the track play counts, share
credits and daily activity of the rows actually inserted), then acknowledges and deletes the
entries and takes them off the viewers' pending recent plays. A consumer killed anywhere in
between leaves its entries pending in the group: the next drain claims them (``XAUTOCLAIM``
once idle for ``NCM_PLAY_CLAIM_IDLE_MS``, or its own at once) and writes them again, which
inserts nothing twice and so counts nothing twice. The worker runs :func:`drain_forever`.

A play is encoded as one ``|``-separated string (the play id allows no ``|``): the stream
entry, the dedupe key's value and what the recent plays read.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ncm.config import get_settings
from ncm.kit.redis import get_redis, namespaced
from ncm.stream.models import PlayEvent, PlaySource

log = logging.getLogger("ncm.stream.ingest")

GROUP = "flush"
RECENT_KEEP = 100  # pending recent plays kept per viewer (the flush removes them sooner)
RECENT_SECONDS = 24 * 3600
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_ENQUEUE = """
local stored = redis.call('GET', KEYS[1])
if stored then return stored end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('XADD', KEYS[2], '*', 'p', ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -1 - tonumber(ARGV[5]))
redis.call('EXPIRE', KEYS[3], ARGV[6])
return false
"""

# One round trip per batch, run while the next batch's statement is on PostgreSQL: acknowledge
# and delete the entries of a batch the database has committed and take its plays off the
# viewers' pending recent plays (ARGV[4]: its entry ids, comma-separated; ARGV[5]: its plays,
# newline-separated, as this script returned them), then read up to ARGV[3] new entries (none
# for 0). The entries come back packed in two strings (ids, plays) and their count: decoding a
# batch is then two splits in the consumer instead of a reply of 5,000 nested entries. A play
# with a newline (no ``enqueue`` writes one) comes back empty: malformed, dropped. The keys of
# the viewers' recent plays are made here from ARGV[6]: ncm runs one Redis, not a cluster.
_STEP = """
local stream, group = KEYS[1], ARGV[1]
if ARGV[4] ~= '' then
  local ids = {}
  for id in string.gmatch(ARGV[4], '[^,]+') do
    ids[#ids + 1] = id
    if #ids == 1000 then
      redis.call('XACK', stream, group, unpack(ids))
      redis.call('XDEL', stream, unpack(ids))
      ids = {}
    end
  end
  if #ids > 0 then
    redis.call('XACK', stream, group, unpack(ids))
    redis.call('XDEL', stream, unpack(ids))
  end
  for line in string.gmatch(ARGV[5], '[^\\n]+') do
    local a = string.find(line, '|', 1, true)
    local b = a and string.find(line, '|', a + 1, true)
    if b then
      redis.call('ZREM', ARGV[6] .. string.sub(line, a + 1, b - 1), string.sub(line, 1, a - 1))
    end
  end
end
if ARGV[3] == '0' then return false end
local got = redis.call('XREADGROUP', 'GROUP', group, ARGV[2], 'COUNT', ARGV[3],
                       'STREAMS', stream, '>')
if not got then return false end
local ids, plays = {}, {}
for i, entry in ipairs(got[1][2]) do
  ids[i] = entry[1]
  local fields, play = entry[2], ''
  if type(fields) == 'table' then
    for j = 1, #fields - 1, 2 do
      if fields[j] == 'p' then play = fields[j + 1] end
    end
  end
  if string.find(play, '\\n', 1, true) then play = '' end
  plays[i] = play
end
if #ids == 0 then return false end
return {table.concat(ids, ','), table.concat(plays, '\\n'), #ids}
"""

# One statement: the new rows, and the counts of exactly those rows (ON CONFLICT skips a play
# written before, so a batch written twice counts once): daily activity upserted in key order
# (two drains at once wait for each other instead of deadlocking), track and share play counts
# as deltas that FOLD_SQL adds up every few seconds (a track row, with its search indexes, is
# rewritten once per fold instead of once per batch).
FLUSH_SQL = """
WITH v AS (
  SELECT play_id, user_id, track_id, seconds, counted, source, share_id,
         timestamptz 'epoch' + us * interval '1 microsecond' AS started_at,
         timestamptz 'epoch' + reported_us * interval '1 microsecond' AS reported_at
  FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::int[], $6::bool[],
              $7::text[], $8::bigint[], $9::bigint[])
       AS v(play_id, user_id, track_id, us, seconds, counted, source, share_id, reported_us)
), ins AS (
  INSERT INTO play_events (play_id, user_id, track_id, started_at, day, seconds_played,
                           counted, source, share_id, aggregated, created_at)
  SELECT play_id, user_id, track_id, started_at, (started_at AT TIME ZONE 'UTC')::date,
         seconds, counted, source, share_id, TRUE, reported_at FROM v
  ON CONFLICT (play_id, day) DO NOTHING
  RETURNING user_id, track_id, share_id, day, counted
), deltas AS (
  INSERT INTO play_count_deltas (track_id, share_id, plays)
  SELECT track_id, NULL, count(*) FROM ins WHERE counted GROUP BY track_id
  UNION ALL
  SELECT NULL, share_id, count(*) FROM ins WHERE counted AND share_id IS NOT NULL
  GROUP BY share_id
), activity AS (
  INSERT INTO user_daily_activity (user_id, day, plays)
  SELECT user_id, day, count(*) FROM ins GROUP BY user_id, day ORDER BY user_id, day
  ON CONFLICT (user_id, day) DO UPDATE SET plays = user_daily_activity.plays + excluded.plays
)
SELECT count(*) AS inserted, count(*) FILTER (WHERE counted) AS counted FROM ins
"""


FOLD_SQL = """
WITH d AS (
  DELETE FROM play_count_deltas RETURNING track_id, share_id, plays
), t AS (
  UPDATE tracks t SET play_count = t.play_count + x.n
  FROM (SELECT track_id, sum(plays) AS n FROM d WHERE track_id IS NOT NULL GROUP BY track_id
        ORDER BY track_id) x
  WHERE t.id = x.track_id
), s AS (
  UPDATE share_links s SET play_count = s.play_count + x.n
  FROM (SELECT share_id, sum(plays) AS n FROM d WHERE share_id IS NOT NULL GROUP BY share_id
        ORDER BY share_id) x
  WHERE s.id = x.share_id
)
SELECT count(*) AS deltas, coalesce(sum(plays), 0) AS plays FROM d
"""
FOLD_LOCK = 0x6E636D_666F6C64  # pg advisory lock: one fold at a time
FOLD_SECONDS = 10.0


def enabled() -> bool:
    """Plays go through the stream: Redis and PostgreSQL configured, and
    ``NCM_PLAY_INGEST`` not ``direct`` (the embedded default writes each play directly)."""
    settings = get_settings()
    return (
        settings.play_ingest != "direct"
        and settings.redis_url is not None
        and not (settings.uses_sqlite)
    )


def _key(name: str) -> str:
    return namespaced("plays", name)


def stream_key() -> str:
    return _key("stream")


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def encode(play: PlayEvent, reported_at: datetime) -> str:
    share = "" if play.share_id is None else str(play.share_id)
    return (
        f"{play.play_id}|{play.user_id}|{play.track_id}|{_micros(play.started_at)}"
        f"|{play.seconds_played}|{int(play.counted)}|{play.source}|{share}"
        f"|{_micros(reported_at)}"
    )


def decode(raw: str | bytes) -> PlayEvent:
    """A stored play as an unsaved model (its ``id`` is unknown until the flush)."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    play_id, user, track, us, seconds, counted, source, share, reported = text.split("|")
    started = EPOCH + timedelta(microseconds=int(us))
    return PlayEvent(
        play_id=play_id,
        user_id=int(user),
        track_id=int(track),
        started_at=started,
        day=started.date(),
        seconds_played=int(seconds),
        counted=counted == "1",
        source=PlaySource(source),
        share_id=int(share) if share else None,
        aggregated=False,
        created_at=EPOCH + timedelta(microseconds=int(reported)),
    )


async def _redis() -> Any:
    redis = await get_redis()
    if redis is None:
        raise RuntimeError("batched play ingestion needs NCM_REDIS_URL")
    return redis


async def stored(play_id: str) -> PlayEvent | None:
    """The play reported under ``play_id`` within the dedupe window, flushed or not."""
    raw = await (await _redis()).get(_key(f"id:{play_id}"))
    return None if raw is None else decode(raw)


async def enqueue(play: PlayEvent, reported_at: datetime) -> PlayEvent | None:
    """Queue a new play; returns the stored play instead when its id was taken meanwhile."""
    redis = await _redis()
    script = redis.register_script(_ENQUEUE)
    found = await script(
        keys=[_key(f"id:{play.play_id}"), stream_key(), _key(f"recent:{play.user_id}")],
        args=[
            encode(play, reported_at),
            get_settings().play_dedupe_seconds,
            _micros(reported_at),
            play.play_id,
            RECENT_KEEP,
            RECENT_SECONDS,
        ],
    )
    return None if found is None else decode(found)


async def recent(user_id: int) -> list[PlayEvent]:
    """The viewer's plays not yet written to the database, most recently reported first."""
    redis = await _redis()
    ids = await redis.zrevrange(_key(f"recent:{user_id}"), 0, -1)
    if not ids:
        return []
    found = await redis.mget(
        [_key(f"id:{(i.decode() if isinstance(i, bytes) else i)}") for i in ids]
    )
    return [decode(raw) for raw in found if raw is not None]


@dataclass
class Drained:
    entries: int = 0  # stream entries written (new, claimed or re-read)
    inserted: int = 0  # rows the database did not have
    counted: int = 0  # of which count toward play counts
    batches: int = 0


def consumer_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def _ensure_group(redis: Any) -> None:
    try:
        await redis.xgroup_create(stream_key(), GROUP, id="0", mkstream=True)
    except Exception as exc:  # BUSYGROUP: it exists (the usual case)
        if "BUSYGROUP" not in str(exc):
            raise


@dataclass
class _Batch:
    """Stream entries read together: their ids (comma-separated) and plays (newline-separated,
    each as ``encode`` wrote it, or empty for an entry with no play)."""

    ids: str
    plays: str
    entries: int


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _batch(entries: list[tuple[Any, dict[Any, Any]]]) -> _Batch | None:
    """A batch from entries as redis-py returns them (own pending and claimed entries, and a
    blocking read): the same form as the step script's."""
    if not entries:
        return None
    plays = []
    for _, fields in entries:
        play = _text(fields.get(b"p") or fields.get("p") or "")
        plays.append("" if "\n" in play else play)
    return _Batch(",".join(_text(i) for i, _ in entries), "\n".join(plays), len(entries))


_NUMERIC = (1, 2, 3, 4, 5, 8)  # user, track, started (µs), seconds, counted, reported (µs)


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _valid(parts: list[str]) -> bool:
    return (
        len(parts) == 9
        and all(_digits(parts[i]) for i in _NUMERIC)
        and (not parts[7] or _digits(parts[7]))
    )


def _columns(plays: str) -> list[list[Any]] | None:
    """The batch's plays as the statement's nine arrays; ``None`` when none is left.

    An entry read twice in one batch (a retried delivery) is written once; an entry no
    ``enqueue`` wrote is logged and dropped (it would otherwise block the stream). The whole
    batch is checked column by column (one ``isdigit`` over a column's joined values), and
    only a batch that fails is checked again entry by entry."""
    rows = [line.split("|") for line in dict.fromkeys(plays.split("\n"))]
    cols: list[tuple[str, ...]] = []
    if rows and set(map(len, rows)) == {9}:
        cols = list(zip(*rows, strict=True))
        shares = "".join(cols[7])
    if not cols or not (
        all(all(cols[i]) and _digits("".join(cols[i])) for i in _NUMERIC)
        and (not shares or _digits(shares))
    ):
        good = [parts for parts in rows if _valid(parts)]
        for parts in rows:
            if not _valid(parts):
                text = "|".join(parts)
                log.error("malformed play stream entry dropped", extra={"entry": text[:200]})
        if not good:
            return None
        cols = list(zip(*good, strict=True))
    return [
        list(cols[0]),
        list(map(int, cols[1])),
        list(map(int, cols[2])),
        list(map(int, cols[3])),
        list(map(int, cols[4])),
        [c == "1" for c in cols[5]],
        list(cols[6]),
        [int(s) if s else None for s in cols[7]],
        list(map(int, cols[8])),
    ]


async def _write(columns: list[list[Any]] | None) -> tuple[int, int]:
    """Write a batch's columns (``_columns``) in one transaction; ``(rows inserted, of which
    counted)``."""
    from tortoise import connections
    from tortoise.transactions import in_transaction

    from ncm.kit.db import is_unavailable

    if columns is None:
        return 0, 0
    # A test seam: seconds inside a batch's transaction, so a test can kill a worker mid-batch.
    pause = float(os.environ.get("NCM_PLAY_FLUSH_PAUSE") or 0)
    for attempt in (1, 2):
        try:
            async with in_transaction() as conn:
                rows = await conn.execute_query_dict(FLUSH_SQL, columns)
                if pause:
                    await asyncio.sleep(pause)
            return int(rows[0]["inserted"]), int(rows[0]["counted"])
        except Exception as exc:
            if attempt == 2 or is_unavailable(exc) or "no partition" not in str(exc):
                raise
            # A day without a partition and no default one (a table set up by hand): make
            # the partitions, then write again.
            from ncm.kit import partitions
            from ncm.stream.retention import PLAY_EVENTS  # lazy: it imports plays, which imports us

            await partitions.ensure(PLAY_EVENTS, conn=connections.get("default"))
    raise AssertionError("unreachable")


_steps: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


class _Stream:
    """One consumer's view of the stream for a drain: the keys, made once, and the step
    script, registered once per connection pool."""

    def __init__(self, redis: Any, consumer: str) -> None:
        self.redis = redis
        self.consumer = consumer
        self.key = stream_key()
        self.recent_prefix = _key("recent:")
        script = _steps.get(redis)
        if script is None:
            script = _steps[redis] = redis.register_script(_STEP)
        self.script = script

    async def step(self, written: _Batch | None, count: int) -> _Batch | None:
        """Acknowledge ``written`` (committed) and read up to ``count`` new entries."""
        got = await self.script(
            keys=[self.key],
            args=[
                GROUP,
                self.consumer,
                count,
                written.ids if written else "",
                written.plays if written else "",
                self.recent_prefix,
            ],
        )
        if not got:
            return None
        return _Batch(_text(got[0]), _text(got[1]), int(got[2]))

    async def first(self, count: int, idle_ms: int, block_ms: int | None) -> _Batch | None:
        """This consumer's own pending entries first (a retry after a failed write), then
        entries another consumer left pending for ``idle_ms`` (it died), then new ones
        (waiting up to ``block_ms`` for some when given)."""
        redis, key = self.redis, self.key
        mine = await redis.xreadgroup(GROUP, self.consumer, {key: "0"}, count=count)
        if mine and mine[0][1]:
            gone = [e[0] for e in mine[0][1] if not e[1]]  # deleted entries come back empty
            if gone:
                await redis.xack(key, GROUP, *gone)
            found = _batch([e for e in mine[0][1] if e[1]])
            if found is not None:
                return found
        claimed = await redis.xautoclaim(key, GROUP, self.consumer, idle_ms, "0-0", count=count)
        found = _batch([e for e in claimed[1] if e[1]])
        if found is not None:
            return found
        if block_ms is None:
            return await self.step(None, count)
        new = await redis.xreadgroup(GROUP, self.consumer, {key: ">"}, count=count, block=block_ms)
        return _batch(new[0][1] if new else [])


async def _run(
    consumer: str,
    *,
    max_batches: int,
    claim_idle_ms: int | None = None,
    block_ms: int | None = None,
    seconds: float | None = None,
) -> Drained:
    """Write batches until the stream has nothing for this consumer (or ``max_batches``, or
    ``seconds`` are up), each batch's statement overlapping the Redis round trip that
    acknowledges the batch before it and reads the one after it.

    Exactly once: a batch is acknowledged only once its transaction committed. A failure
    leaves the batch being written, and the one read meanwhile, pending for this consumer:
    the next run writes them first (a batch written twice inserts nothing twice)."""
    settings = get_settings()
    size = settings.play_flush_batch
    idle = settings.play_claim_idle_ms if claim_idle_ms is None else claim_idle_ms
    redis = await _redis()
    await _ensure_group(redis)
    stream = _Stream(redis, consumer)
    deadline = None if seconds is None else time.monotonic() + seconds
    total = Drained()
    written: _Batch | None = None  # committed, not yet acknowledged
    batch = await stream.first(size, idle, block_ms)
    columns = None if batch is None else _columns(batch.plays)
    while batch is not None:
        more = total.batches + 1 < max_batches and (deadline is None or time.monotonic() < deadline)
        write = asyncio.ensure_future(_write(columns))
        try:
            following = await stream.step(written, size if more else 0)
            written = None
            # decoded while the database still writes this batch
            columns = None if following is None else _columns(following.plays)
        except BaseException:
            write.cancel()
            await asyncio.gather(write, return_exceptions=True)
            raise
        inserted, counted = await write
        total.entries += batch.entries
        total.inserted += inserted
        total.counted += counted
        total.batches += 1
        written = batch
        if following is None and more:  # nothing new: acknowledge, then look everywhere
            await stream.step(written, 0)
            written = None
            following = await stream.first(size, idle, None)
            columns = None if following is None else _columns(following.plays)
        batch = following
    if written is not None:
        await stream.step(written, 0)
    return total


async def fold_counts() -> int:
    """Add the play count deltas to the tracks and share links, in one transaction; returns
    the plays added (0 when another fold is running: it adds them)."""
    from tortoise.transactions import in_transaction

    async with in_transaction() as conn:
        got = await conn.execute_query_dict(
            "SELECT pg_try_advisory_xact_lock($1) AS ok", [FOLD_LOCK]
        )
        if not got[0]["ok"]:
            return 0
        rows = await conn.execute_query_dict(FOLD_SQL)
    return int(rows[0]["plays"])


async def drain(
    consumer: str | None = None, *, max_batches: int = 1000, claim_idle_ms: int | None = None
) -> Drained:
    """Batches until the stream has nothing for this consumer (or ``max_batches``), then
    the play count deltas folded into the tracks."""
    total = await _run(
        consumer or consumer_name(), max_batches=max_batches, claim_idle_ms=claim_idle_ms
    )
    await fold_counts()
    return total


async def drain_forever(consumer: str | None = None) -> None:
    """The worker's loop: drain batches as plays arrive, in runs of at most
    ``FOLD_SECONDS`` (each starts by claiming what a dead consumer left); a failed run is
    retried after a pause (its entries stay pending, nothing is lost)."""
    consumer = consumer or consumer_name()
    folded = time.monotonic()
    while True:
        try:
            await _run(consumer, max_batches=1 << 62, block_ms=1000, seconds=FOLD_SECONDS)
            if time.monotonic() - folded >= FOLD_SECONDS:
                folded = time.monotonic()
                await fold_counts()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("play flush failed; retrying", extra={"consumer": consumer})
            await asyncio.sleep(1.0)


async def backlog() -> dict[str, int]:
    """Entries waiting in the stream and entries read but not yet acknowledged (metrics)."""
    redis = await _redis()
    length = await redis.xlen(stream_key())
    try:
        info = await redis.xpending(stream_key(), GROUP)
        pending = int(info["pending"])
    except Exception:  # no group yet
        pending = 0
    return {"length": int(length), "pending": pending}
