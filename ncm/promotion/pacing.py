"""Even pacing: spread a campaign's booked impressions over its schedule.

The pacer runs in every server process. Between two ticks (one a second) it only counts, in
memory, per campaign: its *opportunities* (requests where its turn came in the viewer's
ranking), the ones it was *admitted* to (passed pacing) and *served* in. At each tick the
counts of every process are added up (a Redis hash; in-process on the embedded default) and
each campaign gets a new admission rate::

    desired rate  = (booked - delivered) / (seconds left in the schedule)
    opportunities = opportunities per second (moving average)
    win ratio     = served / admitted (moving average; 1 when admission means serving, as in
                    ``live.select``)
    rate          = min(1, desired / (opportunities * win ratio))

Because ``desired`` is recomputed from what is left, a campaign that fell behind (a quiet
night) catches up, and one that ran ahead slows down: delivery follows the straight line from
0 at the start to the booking at the end. Delivery stops at the booking. A request admits a
campaign when a hash of (viewer, hour, placement, campaign) is below the rate, so the same
viewer keeps the same answer within the hour while the rate moves a little.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

ALPHA = 0.3  # weight of the newest tick in the moving averages


@dataclass
class PaceState:
    rate: float = 1.0
    delivered: int = 0  # served so far, every process (as of the last tick)
    opportunities: float | None = None  # eligible requests per second
    win: float = 1.0  # served / admitted


@dataclass
class Pacer:
    states: dict[int, PaceState] = field(default_factory=dict)
    eligible: Counter[int] = field(default_factory=Counter)
    admitted: Counter[int] = field(default_factory=Counter)
    served: Counter[int] = field(default_factory=Counter)

    def rate(self, campaign_id: int) -> float:
        state = self.states.get(campaign_id)
        return 1.0 if state is None else state.rate

    def exhausted(self, campaign_id: int, booked: int) -> bool:
        state = self.states.get(campaign_id)
        delivered = (state.delivered if state else 0) + self.served[campaign_id]
        return delivered >= booked

    def take_counts(self) -> tuple[Counter[int], Counter[int], Counter[int]]:
        """The counts since the last tick (and start counting afresh)."""
        counts = (self.eligible, self.admitted, self.served)
        self.eligible, self.admitted, self.served = Counter(), Counter(), Counter()
        return counts

    def tick(
        self,
        campaigns: dict[int, tuple[int, float]],
        now: float,
        seconds: float,
        eligible: Counter[int],
        admitted: Counter[int],
        served: Counter[int],
        delivered: dict[int, int],
    ) -> None:
        """New rates. ``campaigns``: id -> (booked impressions, schedule end as a timestamp)
        for every paced campaign; the counters are every process's over the last ``seconds``;
        ``delivered`` is the total served so far."""
        for cid in [c for c in self.states if c not in campaigns]:
            del self.states[cid]
        for cid, (booked, ends) in campaigns.items():
            state = self.states.setdefault(cid, PaceState())
            state.delivered = max(state.delivered, delivered.get(cid, 0))
            if seconds > 0:
                seen = eligible.get(cid, 0) / seconds
                state.opportunities = (
                    seen
                    if state.opportunities is None
                    else ALPHA * seen + (1 - ALPHA) * state.opportunities
                )
                if admitted.get(cid, 0):
                    win = min(1.0, served.get(cid, 0) / admitted[cid])
                    state.win = max(0.05, ALPHA * win + (1 - ALPHA) * state.win)
            remaining = booked - state.delivered
            if remaining <= 0:
                state.rate = 0.0
                continue
            desired = remaining / max(ends - now, 1.0)
            supply = (state.opportunities or 0.0) * state.win
            state.rate = 1.0 if supply <= 0 else min(1.0, desired / supply)
