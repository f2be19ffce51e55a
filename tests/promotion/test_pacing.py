"""Pacing: a simulated day of traffic that rises and falls; a booked campaign competing with
an unbooked one stays within 5 % of its even delivery curve and stops at its booking."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

from ncm.promotion import live
from ncm.promotion.pacing import Pacer
from ncm.promotion.profiles import ViewerProfile
from tests.promotion.helpers import live_campaign, partner

DAY = 86_400.0
TICK = 60.0  # a simulated minute per tick (production ticks every second)


async def test_a_simulated_day_stays_on_the_even_curve() -> None:
    p = await partner()
    start = datetime.now(UTC) - timedelta(seconds=5)
    booked = 4_000
    paced = await live_campaign(
        p,
        name="paced",
        starts_at=start,
        ends_at=start + timedelta(seconds=DAY),
        booked_impressions=booked,
    )
    await live_campaign(p, name="house ad", starts_at=start, ends_at=start + timedelta(days=2))
    rng = random.Random(11)
    viewers = [ViewerProfile(f"v{n}", None, None, None, False, frozenset()) for n in range(3000)]
    t0 = start.timestamp() + 5
    delivered = 0
    worst = 0.0
    for step in range(int(DAY / TICK) - 1):
        now = t0 + step * TICK
        # Traffic over the day: 5 to 35 requests a minute (night and evening peak).
        requests = int(20 + 15 * math.sin(2 * math.pi * step * TICK / DAY - math.pi / 2))
        for r in range(requests):
            at = now + r * 0.01  # a burst: one pacing tick per simulated minute
            chosen = await live.promotions(rng.choice(viewers), "HOME_BANNER", 1, at)
            delivered += sum(c.id == paced.id for c in chosen)
        if step % 60 == 59:  # every simulated hour
            elapsed = now + TICK - start.timestamp()
            expected = booked * min(1.0, elapsed / DAY)
            worst = max(worst, abs(delivered - expected) / booked)
            assert abs(delivered - expected) <= 0.05 * booked, (step, delivered, expected)
    assert 0.95 * booked <= delivered <= booked
    print(f"worst deviation {worst:.4f} of the booking")
    assert worst < 0.05


def test_the_rate_follows_what_is_left() -> None:
    pacer = Pacer()
    # 100 eligible requests a second, all admitted ones served; 10/s wanted for 1000 s.
    counts = ({1: 1000}, {1: 1000}, {1: 1000})
    pacer.tick({1: (10_000, 1000.0)}, 0.0, 10.0, *map(_counter, counts), {1: 0})
    assert math.isclose(pacer.rate(1), 0.1)
    # Behind (delivered nothing for a while): the rate rises to catch up.
    pacer.tick({1: (10_000, 1000.0)}, 500.0, 10.0, *map(_counter, counts), {1: 0})
    assert math.isclose(pacer.rate(1), 0.2)
    # Booked impressions delivered: no more.
    pacer.tick({1: (10_000, 1000.0)}, 600.0, 10.0, *map(_counter, counts), {1: 10_000})
    assert pacer.rate(1) == 0.0 and pacer.exhausted(1, 10_000)


def _counter(d: dict[int, int]) -> object:
    from collections import Counter

    return Counter(d)
