"""Finance's guard on ``play_events`` retention (``ncm.kit.partitions``): the listening mix
reads days past retention from the daily rollup alone, so a day's plays may go only once the
rollup holds that day for good (``ncm.finance.mix.listening_rollup_covers``: the day is at or
below the rollup's watermark, which moves only over days whose late plays can no longer
arrive)."""

from __future__ import annotations

from ncm.finance.mix import listening_rollup_covers
from ncm.kit.partitions import rollup_check
from ncm.stream.retention import PLAY_EVENTS

rollup_check(PLAY_EVENTS.name, "finance listening rollup")(listening_rollup_covers)
