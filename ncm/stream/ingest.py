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

# The keys of the viewers' recent plays come as arguments: ncm runs one Redis, not a cluster.
_DONE = """
local n = tonumber(ARGV[2])
for i = 3, n + 2, 1000 do
  local last = math.min(i + 999, n + 2)
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, i, last))
  redis.call('XDEL', KEYS[1], unpack(ARGV, i, last))
end
for i = n + 3, #ARGV, 2 do
  redis.call('ZREM', ARGV[i], ARGV[i + 1])
end
return n
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


def _parts(fields: dict[Any, Any]) -> list[str] | None:
    """A stream entry's play as its nine fields; ``None`` (logged, then dropped with its
    batch) for an entry no ``enqueue`` wrote, which would otherwise block the stream."""
    raw = fields.get(b"p") or fields.get("p") or b""
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    parts = text.split("|")
    if len(parts) != 9 or not all(p.isdigit() for p in parts[1:6] + parts[8:]):
        log.error("malformed play stream entry dropped", extra={"entry": text[:200]})
        return None
    return parts


async def _write(entries: list[tuple[Any, dict[Any, Any]]]) -> tuple[int, int]:
    from tortoise import connections
    from tortoise.transactions import in_transaction

    from ncm.kit.db import is_unavailable

    columns: list[list[Any]] = [[] for _ in range(9)]
    seen: set[tuple[str, str]] = set()
    for _, fields in entries:
        parts = _parts(fields)
        if parts is None or (parts[0], parts[3]) in seen:  # malformed, or twice in one batch
            continue
        seen.add((parts[0], parts[3]))
        columns[0].append(parts[0])
        columns[1].append(int(parts[1]))
        columns[2].append(int(parts[2]))
        columns[3].append(int(parts[3]))
        columns[4].append(int(parts[4]))
        columns[5].append(parts[5] == "1")
        columns[6].append(parts[6])
        columns[7].append(int(parts[7]) if parts[7] else None)
        columns[8].append(int(parts[8]))
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


async def _done(redis: Any, entries: list[tuple[Any, dict[Any, Any]]]) -> None:
    """Acknowledge and delete the batch's entries and take its plays off the viewers'
    pending recent plays: one script call, whatever the batch size."""
    ids: list[Any] = []
    plays: list[str] = []
    for entry_id, fields in entries:
        ids.append(entry_id)
        parts = _parts(fields)
        if parts is not None:
            plays += [_key(f"recent:{parts[1]}"), parts[0]]
    script = redis.register_script(_DONE)
    await script(keys=[stream_key()], args=[GROUP, len(ids), *ids, *plays])


async def drain_batch(
    consumer: str,
    *,
    batch: int | None = None,
    block_ms: int | None = None,
    claim_idle_ms: int | None = None,
) -> Drained:
    """Write one batch: this consumer's own pending entries first (a retry after a failed
    write), then entries another consumer left pending for ``claim_idle_ms`` (it died), then
    new ones (waiting up to ``block_ms`` for some when given)."""
    settings = get_settings()
    batch = batch or settings.play_flush_batch
    idle = settings.play_claim_idle_ms if claim_idle_ms is None else claim_idle_ms
    redis = await _redis()
    await _ensure_group(redis)
    key = stream_key()
    entries: list[tuple[Any, dict[Any, Any]]] = []
    mine = await redis.xreadgroup(GROUP, consumer, {key: "0"}, count=batch)
    if mine and mine[0][1]:
        entries = [e for e in mine[0][1] if e[1]]  # deleted entries come back empty
        gone = [e[0] for e in mine[0][1] if not e[1]]
        if gone:
            await redis.xack(key, GROUP, *gone)
    if not entries:
        claimed = await redis.xautoclaim(key, GROUP, consumer, idle, "0-0", count=batch)
        entries = [e for e in claimed[1] if e[1]]
    if not entries:
        new = await redis.xreadgroup(GROUP, consumer, {key: ">"}, count=batch, block=block_ms)
        entries = new[0][1] if new else []
    if not entries:
        return Drained()
    inserted, counted = await _write(entries)
    await _done(redis, entries)
    return Drained(len(entries), inserted, counted, 1)


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
    """Batches until the stream has nothing for this consumer (or ``max_batches``)."""
    consumer = consumer or consumer_name()
    total = Drained()
    for _ in range(max_batches):
        done = await drain_batch(consumer, claim_idle_ms=claim_idle_ms)
        if not done.entries:
            break
        total.entries += done.entries
        total.inserted += done.inserted
        total.counted += done.counted
        total.batches += 1
    await fold_counts()
    return total


async def drain_forever(consumer: str | None = None) -> None:
    """The worker's loop: drain batches as plays arrive; a failed batch is retried after a
    pause (its entries stay pending, nothing is lost)."""
    consumer = consumer or consumer_name()
    folded = time.monotonic()
    while True:
        try:
            await drain_batch(consumer, block_ms=1000)
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
