"""``ncm.kit.isotime`` writes what ``datetime.isoformat()`` writes, for every timestamp."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from tortoise import timezone as tortoise_timezone

from ncm.kit.isotime import isoformat, isoformat_bytes

ZONES = [
    None,
    UTC,
    ZoneInfo("UTC"),
    tortoise_timezone.ZoneInfo("UTC"),
    ZoneInfo("Asia/Shanghai"),  # +08:05:43 (local mean time) before 1901: isoformat's own
    ZoneInfo("America/St_Johns"),  # -03:30
    timezone(timedelta(hours=5, minutes=45)),
    timezone(timedelta(hours=-3, seconds=15)),  # an offset with seconds
    timezone(timedelta(microseconds=5)),
]
MOMENTS = [
    datetime(1, 1, 1),
    datetime(1850, 6, 1, 12, 0, 0, 7),
    datetime(1970, 1, 1),
    datetime(2026, 12, 4, 1, 2, 3),  # no microseconds: none written
    datetime(2026, 12, 4, 1, 2, 3, 1000),  # written as six digits
    datetime(2026, 12, 4, 1, 2, 3, 999999),
    datetime(9999, 12, 31, 23, 59, 59, 999999),
]


class Moment(datetime):
    """A subclass (pendulum's kind): not orjson's to write."""


@pytest.mark.parametrize("zone", ZONES, ids=repr)
def test_isoformat_is_datetime_isoformat(zone: timezone | None) -> None:
    for moment in MOMENTS:
        at = moment.replace(tzinfo=zone)
        assert isoformat(at) == at.isoformat()
        assert isoformat_bytes(at) == at.isoformat().encode()
    sub = Moment(2026, 12, 4, 1, 2, 3, tzinfo=zone)
    assert isoformat(sub) == sub.isoformat()
