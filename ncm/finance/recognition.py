"""The recognition rules for one paid period, in plain Python (the report runs the same
rules set-based in SQL; ``docs/metrics.md`` states them and tests check both agree).

A period *counts* when it is PAID, not revoked (fully refunded) and more was paid than
refunded. It covers the UTC days ``[day(starts_at), day(ends_at))`` (at least one day). Its
recognised revenue is what was paid less tax, less the refunds' share without tax
(``refunded * (amount - tax) / amount``, half up), spread evenly over its days in whole minor
units with the remainder on the last day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ncm.finance.money import EPOCH, month_days


def _utc_day(at: datetime) -> int:
    return (at.astimezone(UTC).date() - EPOCH).days


@dataclass(frozen=True)
class Facts:
    start: int  # first day covered (day number)
    days: int  # how many days (at least 1)
    net: int  # recognised in total, minor units
    mrr: int  # normalised monthly run-rate while it is live

    @property
    def base(self) -> int:
        return self.net // self.days

    @property
    def remainder(self) -> int:
        return self.net - self.base * self.days

    def on_day(self, day: int) -> int:
        if not self.start <= day < self.start + self.days:
            return 0
        return self.base + (self.remainder if day == self.start + self.days - 1 else 0)

    def in_month(self, k: int) -> int:
        lo, hi = month_days(k)
        overlap = max(0, min(hi, self.start + self.days) - max(lo, self.start))
        last = self.start + self.days - 1
        return self.base * overlap + (self.remainder if lo <= last < hi else 0)


def net_revenue(amount: int, tax: int, refunded: int) -> int:
    """Paid less tax less the refunds' tax-free share (half up)."""
    ex_tax = amount - tax
    return ex_tax - (2 * refunded * ex_tax + amount) // (2 * amount)


def monthly_rate(amount: int, tax: int, days: int) -> int:
    """The period's price without tax per month: months = max(1, (days + 15) // 30)."""
    months = max(1, (days + 15) // 30)
    return (2 * (amount - tax) + months) // (2 * months)


def counts(source: str, revoked: bool, amount: int, refunded: int) -> bool:
    return source == "PAID" and not revoked and amount > refunded


def facts(starts_at: datetime, ends_at: datetime, amount: int, tax: int, refunded: int) -> Facts:
    start = _utc_day(starts_at)
    days = max(1, _utc_day(ends_at) - start)
    return Facts(start, days, net_revenue(amount, tax, refunded), monthly_rate(amount, tax, days))
