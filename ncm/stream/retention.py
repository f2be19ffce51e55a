"""``play_events`` is partitioned by day on PostgreSQL (``ncm.kit.partitions``); a day's
partition may go once the play counters hold it for good: no play of that day is left to
aggregate, and the day is past the window in which late plays are still accepted."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from ncm.kit.partitions import partitioned_by_day, rollup_check
from ncm.kit.sql import fetch
from ncm.stream.plays import CLOCK_SKEW, MAX_AGE

PLAY_EVENTS = partitioned_by_day("play_events", "day")


def settled(day: date, now: datetime | None = None) -> bool:
    """No play of ``day`` can be reported any more (plays are accepted up to ``MAX_AGE``
    late)."""
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
    return (now or datetime.now(UTC)) >= end + MAX_AGE + CLOCK_SKEW


@rollup_check("play_events", "stream play counters")
async def play_counters_cover(day: date) -> bool:
    """Track play counts, share credits and daily activity (MAU) hold every play of ``day``."""
    if not settled(day):
        return False
    rows = await fetch(
        "SELECT 1 AS x FROM play_events WHERE day = $1 AND aggregated = FALSE LIMIT 1", [day]
    )
    return not rows
