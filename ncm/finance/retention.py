"""Finance's guard on ``play_events`` retention (``ncm.kit.partitions``): the listening mix
reads days past retention from the daily rollup alone, so a day's plays may go only once the
rollup holds that day for good.

FINANCE CHECK PLUGS IN HERE: the finance branch adds a watermark,
``listening_rollup_covers(day)``; at merge, register that function below in place of this
one (same check name). Until then this reads ``finance_play_rollup_days``: a day rolled up
after the last late play of that day could still arrive.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from ncm.finance.models import PlayRollupDay
from ncm.kit.partitions import rollup_check
from ncm.stream.plays import CLOCK_SKEW, MAX_AGE
from ncm.stream.retention import PLAY_EVENTS


@rollup_check(PLAY_EVENTS.name, "finance listening rollup")
async def listening_rollup_covers(day: date) -> bool:
    final = datetime.combine(day + timedelta(days=1), time(), UTC) + MAX_AGE + CLOCK_SKEW
    return await PlayRollupDay.filter(day=day, rolled_at__gte=final).exists()
