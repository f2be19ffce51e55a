"""The promotion event tables partitioned by day on PostgreSQL (``ncm.kit.partitions``):
``promotion_viewers`` (by ``day``) and ``promotion_clicks`` (by ``at``). Their rollup is
``promotion_daily_stats`` (what partner reports read), written in the same transaction as the
viewers and clicks of a flushed batch: it covers a day once no event of that day can still be
accepted and no batch holding one waits in Redis. Clicks are also what conversions are
attributed to, and plays count as conversions when reported up to 30 days late, so a click
partition stays until then; a play partition stays until the conversion job has read it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from ncm.kit.partitions import partitioned_by_day, rollup_check
from ncm.kit.sql import fetch
from ncm.promotion import conversions, tracking
from ncm.promotion.models import PromotionCursor
from ncm.stream.retention import settled as plays_settled

VIEWERS = partitioned_by_day("promotion_viewers", "day")
CLICKS = partitioned_by_day("promotion_clicks", "at", "timestamptz")
# A day in a campaign's time zone overlaps up to two UTC days either side.
ZONE_SLACK = timedelta(days=2)


@rollup_check("promotion_viewers", "promotion daily stats")
@rollup_check("promotion_clicks", "promotion daily stats")
async def daily_stats_cover(day: date) -> bool:
    closed = datetime.combine(day, time(), UTC) + ZONE_SLACK + tracking.MAX_AGE
    if datetime.now(UTC) < closed + tracking.FUTURE_SLACK:
        return False
    return all(pending > day.isoformat() for pending in await tracking.pending_days())


@rollup_check("promotion_clicks", "promotion conversions")
async def clicks_no_longer_attributed(day: date) -> bool:
    """A play reported 30 days late still converts for a click in the 24 hours before it."""
    return plays_settled(day + timedelta(days=conversions.WINDOW.days))


@rollup_check("play_events", "promotion conversions")
async def conversions_read_plays(day: date) -> bool:
    """The conversion job has read every play of ``day`` (its cursor is past them)."""
    rows = await fetch("SELECT max(id) AS last FROM play_events WHERE day = $1", [day])
    last = rows[0]["last"]
    if last is None:
        return True
    cursor = await PromotionCursor.get_or_none(name="plays")
    return cursor is not None and cursor.last_id >= int(last)
