"""Play events: ``reportPlay`` (idempotent on the client's ``play_id``), the viewer's recent
plays, and the aggregation that turns pending events into play counts, share credits and
per-user daily activity (MAU) set-based, one chunk per transaction.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError

from ncm.accounts.models import User
from ncm.accounts.permissions import require_viewer
from ncm.catalog.models import Track
from ncm.config import get_settings
from ncm.errors import Conflict, InvalidInput, NotFound
from ncm.kit import ratelimit
from ncm.kit.db import is_postgres
from ncm.kit.pagination import (
    Page,
    cursor_int,
    decode_cursor,
    make_page,
    page_by_id_desc,
    page_size,
)
from ncm.kit.sql import fetch
from ncm.playlists import shares
from ncm.stream import ingest
from ncm.stream.errors import StreamErrorCode
from ncm.stream.models import PlayEvent, PlaySource

COUNTED_SECONDS = 30  # a play of at least this long counts toward the track's play count
PLAY_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_AGE = timedelta(days=30)  # offline plays may arrive late, but not forever
CLOCK_SKEW = timedelta(minutes=5)
SECONDS_SLACK = 30  # seconds_played may exceed the duration a little (buffering, rounding)
CHUNK = 5000
AGGREGATE_LOCK = 0x6E636D_706C6179  # pg advisory lock: one aggregation at a time


@dataclass(frozen=True)
class Reported:
    play: PlayEvent
    duplicate: bool  # the same play_id was reported before; nothing changed


def _check_same(existing: PlayEvent, user_id: int, track_id: int) -> Reported:
    if existing.user_id != user_id or existing.track_id != track_id:
        raise Conflict(
            "This playId was already used for another play.",
            field="playId",
            code=StreamErrorCode.PLAY_ID_TAKEN,
        )
    return Reported(existing, True)


def counted_after(duration_seconds: int) -> int:
    """Seconds a play needs to count: 30, or the whole track when it is shorter."""
    return max(1, min(COUNTED_SECONDS, duration_seconds))


async def report_play(
    actor: User | None,
    *,
    play_id: str,
    track_id: int,
    started_at: datetime,
    seconds_played: int,
    source: PlaySource = PlaySource.OTHER,
    share_token: str | None = None,
    now: datetime | None = None,
) -> Reported:
    """Record one play. Reporting the same ``play_id`` again returns the stored play and
    changes nothing (``duplicate``); the counters move later, in ``aggregate_pending``."""
    user = require_viewer(actor)
    now = now or datetime.now(UTC)
    if not PLAY_ID.match(play_id):
        raise InvalidInput("playId must be 8-64 letters, digits, - or _.", field="playId")
    limit = get_settings().play_reports_per_minute
    await ratelimit.enforce(
        f"play:report:{user.id}",
        limit,
        60,
        f"At most {limit} plays a minute can be reported; send the rest shortly.",
    )
    batched = ingest.enabled()
    existing = await (
        ingest.stored(play_id) if batched else PlayEvent.filter(play_id=play_id).first()
    )
    if existing is not None:
        return _check_same(existing, user.id, track_id)
    if started_at.tzinfo is None:
        raise InvalidInput("startedAt needs a time zone.", field="startedAt")
    started_at = started_at.astimezone(UTC)
    if started_at > now + CLOCK_SKEW or started_at < now - MAX_AGE:
        raise InvalidInput("startedAt is not a plausible time for this play.", field="startedAt")
    if batched:  # reported before the dedupe window: its row (one partition's index)
        written = await PlayEvent.filter(play_id=play_id, day=started_at.date()).first()
        if written is not None:
            return _check_same(written, user.id, track_id)
    track = await Track.get_or_none(id=track_id).only("id", "duration_ms")
    if track is None:
        raise NotFound("No such track.", field="trackId")
    duration = track.duration_ms // 1000
    if not 0 <= seconds_played <= duration + SECONDS_SLACK:
        raise InvalidInput(
            f"secondsPlayed must be between 0 and {duration + SECONDS_SLACK}: the track's"
            f" {duration} s, plus {SECONDS_SLACK} s for buffering and rounding.",
            field="secondsPlayed",
        )
    share_id = await shares.share_for_track(share_token, track_id, user)
    play = PlayEvent(
        play_id=play_id,
        user_id=user.id,
        track_id=track_id,
        started_at=started_at,
        day=started_at.date(),
        seconds_played=seconds_played,
        counted=seconds_played >= counted_after(duration),
        source=source,
        share_id=share_id,
        aggregated=False,
        created_at=now,
    )
    if batched:  # no row on the request path: the worker writes it (ncm/stream/ingest.py)
        raced = await ingest.enqueue(play, now)
        if raced is not None:
            return _check_same(raced, user.id, track_id)
        return Reported(play, False)
    try:
        await play.save(force_create=True)
    except IntegrityError:  # the same play_id raced in from a retry
        raced_row = await PlayEvent.filter(play_id=play_id).first()
        if raced_row is None:
            raise
        return _check_same(raced_row, user.id, track_id)
    if get_settings().jobs_in_process:
        from ncm.stream import jobs  # lazy: ncm.stream.jobs imports this module

        await jobs.schedule_aggregation()
    return Reported(play, False)


async def recently_played(
    actor: User | None, first: int | None, after: str | None
) -> Page[PlayEvent]:
    """The viewer's plays, most recently reported first: with batched ingestion, the plays
    still on their way to the database (from Redis) come before the stored ones."""
    user = require_viewer(actor)
    if not ingest.enabled():
        return await page_by_id_desc(PlayEvent.filter(user_id=user.id), first, after)
    size = page_size(first)
    pending = await ingest.recent(user.id)
    start, before = 0, None
    if after is not None:
        kind, value = _recent_cursor(after)
        if kind == "id":
            start, before = len(pending), int(value)
        else:
            ids = [p.play_id for p in pending]
            if value in ids:
                start = ids.index(value) + 1
            else:  # written meanwhile: go on from its row
                row = await PlayEvent.filter(user_id=user.id, play_id=value).first()
                start, before = len(pending), (row.id if row else None)
    items = pending[start : start + size + 1]
    if len(items) <= size:
        rows = PlayEvent.filter(user_id=user.id)
        if before is not None:
            rows = rows.filter(id__lt=before)
        shown = {p.play_id for p in items}
        stored = await rows.order_by("-id").limit(size + 1 - len(items) + len(shown))
        items += [r for r in stored if r.play_id not in shown]
    return make_page(
        items,
        size,
        lambda p: [p.id] if p.id is not None else ["pending", p.play_id],
        has_previous=after is not None,
    )


def _recent_cursor(after: str) -> tuple[str, Any]:
    """A stored play's cursor is its id; a pending play's is ``["pending", playId]``."""
    try:
        return "id", cursor_int(after)
    except InvalidInput:
        key = decode_cursor(after, 2)
        if key is None or key[0] != "pending" or not isinstance(key[1], str):
            raise
        return "pending", key[1]


@dataclass
class Aggregated:
    events: int = 0
    counted: int = 0
    tracks: int = 0
    shares: int = 0
    user_days: int = 0


def _as_day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def _add_counts(conn: Any, table: str, column: str, counts: Counter[int]) -> None:
    if not counts:
        return
    keys = sorted(counts)
    if is_postgres():
        await fetch(
            f"UPDATE {table} t SET {column} = t.{column} + v.n"
            " FROM unnest($1::bigint[], $2::bigint[]) AS v(id, n) WHERE t.id = v.id",
            [keys, [counts[k] for k in keys]],
            conn,
        )
        return
    cases = " ".join(f"WHEN ${2 * i + 1} THEN ${2 * i + 2}" for i in range(len(keys)))
    marks = ", ".join(f"${2 * len(keys) + i + 1}" for i in range(len(keys)))
    params: list[Any] = [x for k in keys for x in (k, counts[k])] + keys
    await fetch(
        f"UPDATE {table} SET {column} = {column} + CASE id {cases} ELSE 0 END WHERE id IN ({marks})",
        params,
        conn,
    )


async def _add_activity(conn: Any, days: Counter[tuple[int, date]]) -> None:
    if not days:
        return
    keys = sorted(days)
    upsert = (
        " ON CONFLICT (user_id, day) DO UPDATE SET plays = user_daily_activity.plays"
        " + excluded.plays"
    )
    if is_postgres():
        await fetch(
            "INSERT INTO user_daily_activity (user_id, day, plays)"
            " SELECT * FROM unnest($1::bigint[], $2::date[], $3::int[])" + upsert,
            [[u for u, _ in keys], [d for _, d in keys], [days[k] for k in keys]],
            conn,
        )
        return
    values = ", ".join(f"(${3 * i + 1}, ${3 * i + 2}, ${3 * i + 3})" for i in range(len(keys)))
    params: list[Any] = [x for u, d in keys for x in (u, d.isoformat(), days[(u, d)])]
    await fetch(
        f"INSERT INTO user_daily_activity (user_id, day, plays) VALUES {values}{upsert}",
        params,
        conn,
    )


async def aggregate_chunk(limit: int = CHUNK) -> Aggregated:
    """Count up to ``limit`` pending plays in one transaction: mark them aggregated and add
    them to the tracks' play counts (counted plays: 30 s, or a shorter track's whole length), the shares' play credits (same rule) and
    the users' daily activity (any play). A rerun finds nothing left to count, so a retried
    job never counts twice."""
    from tortoise.transactions import in_transaction

    done = Aggregated()
    async with in_transaction() as conn:
        if is_postgres():
            got = await fetch("SELECT pg_try_advisory_xact_lock($1) AS ok", [AGGREGATE_LOCK], conn)
            if not got[0]["ok"]:
                return done  # another worker is aggregating right now
        lock = " FOR UPDATE SKIP LOCKED" if is_postgres() else ""
        rows = await fetch(
            "UPDATE play_events SET aggregated = TRUE WHERE aggregated = FALSE AND id IN"
            f" (SELECT id FROM play_events WHERE aggregated = FALSE ORDER BY id LIMIT $1{lock})"
            " RETURNING user_id, track_id, share_id, day, counted",
            [limit],
            conn,
        )
        plays: Counter[int] = Counter()
        credits: Counter[int] = Counter()
        days: Counter[tuple[int, date]] = Counter()
        for row in rows:
            days[(row["user_id"], _as_day(row["day"]))] += 1
            if row["counted"]:
                plays[row["track_id"]] += 1
                if row["share_id"] is not None:
                    credits[row["share_id"]] += 1
        await _add_counts(conn, "tracks", "play_count", plays)
        await _add_counts(conn, "share_links", "play_count", credits)
        await _add_activity(conn, days)
    return Aggregated(len(rows), plays.total(), len(plays), len(credits), len(days))


async def aggregate_pending(max_chunks: int = 100, chunk: int = CHUNK) -> Aggregated:
    """Chunks until nothing is pending (or ``max_chunks``: the next run goes on)."""
    total = Aggregated()
    for _ in range(max_chunks):
        done = await aggregate_chunk(chunk)
        total.events += done.events
        total.counted += done.counted
        total.tracks += done.tracks
        total.shares += done.shares
        total.user_days += done.user_days
        if done.events < chunk:
            break
    return total


async def settle() -> dict[str, int]:
    """Write what the play stream holds (batched ingestion) and count the pending direct
    rows: what the minute job and ``ncm stream aggregate`` run."""
    drained = await ingest.drain() if ingest.enabled() else ingest.Drained()
    return {**asdict(await aggregate_pending()), "streamed": drained.inserted}


async def monthly_active_users(year: int, month: int) -> int:
    """Distinct users who played something in a calendar month (UTC)."""
    start = date(year, month, 1)
    end = date(year + month // 12, month % 12 + 1, 1)
    bounds: list[Any] = [start, end] if is_postgres() else [start.isoformat(), end.isoformat()]
    rows = await fetch(
        "SELECT COUNT(DISTINCT user_id) AS n FROM user_daily_activity WHERE day >= $1 AND day < $2",
        bounds,
    )
    return int(rows[0]["n"])
