"""A deliberately plain restatement of docs/metrics.md: day by day, user by user, in Python.
It shares no code with ncm.finance, so a test comparing the two checks the SQL against the
definitions, to the minor unit."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

EXP = {"JPY": 0}


def half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2)) if x >= 0 else -math.floor(-x + Fraction(1, 2))


def month_key(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def month_list(start: str, end: str) -> list[str]:
    y, m = map(int, start.split("-"))
    out = []
    while f"{y:04d}-{m:02d}" <= end:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def prev_month(k: str) -> str:
    y, m = map(int, k.split("-"))
    return f"{y - 1:04d}-12" if m == 1 else f"{y:04d}-{m - 1:02d}"


def last_day(k: str) -> date:
    y, m = map(int, k.split("-"))
    nxt = date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)
    return nxt - timedelta(days=1)


@dataclass
class P:
    user: int
    source: str
    starts_at: datetime
    ends_at: datetime
    amount: int
    tax: int
    refunded: int
    revoked: bool
    currency: str
    group: str = ""


def days_of(p: P) -> list[date]:
    first = p.starts_at.astimezone(UTC).date()
    last_excl = p.ends_at.astimezone(UTC).date()
    n = max(1, (last_excl - first).days)
    return [first + timedelta(days=i) for i in range(n)]


def counted(p: P) -> bool:
    return p.source == "PAID" and not p.revoked and p.amount > p.refunded


def daily_amounts(p: P) -> dict[date, int]:
    days = days_of(p)
    ex_tax = p.amount - p.tax
    net = ex_tax - half_up(Fraction(p.refunded * ex_tax, p.amount))
    each = net // len(days)
    out = {d: each for d in days}
    out[days[-1]] += net - each * len(days)
    return out


def run_rate(p: P) -> int:
    months = max(1, (len(days_of(p)) + 15) // 30)
    return half_up(Fraction(p.amount - p.tax, months))


def oracle(
    periods: list[P],
    activity: dict[int, set[date]],
    start: str,
    end: str,
    *,
    regions: dict[int, str] | None = None,
    rates: dict[str, list[tuple[date, Decimal]]] | None = None,
    target: str | None = None,
) -> dict[str, Any]:
    """Per month: mau, paying_users, new/churned/reactivated, and per (currency, group):
    revenue, paying_users, mrr and its movements (native), or per group in ``target``."""
    good = [p for p in periods if counted(p)]
    months = month_list(start, end)
    every = month_list("2000-01", end)
    paying: dict[str, set[int]] = defaultdict(set)
    paying_cg: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    revenue: dict[tuple[str, str, str], dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for p in good:
        for d, amount in daily_amounts(p).items():
            k = month_key(d)
            paying[k].add(p.user)
            paying_cg[(k, p.currency, p.group)].add(p.user)
            revenue[(k, p.currency, p.group)][d] += amount
    # MRR at every month's last day, per (user, currency, group)
    mrr: dict[str, dict[tuple[int, str, str], int]] = defaultdict(lambda: defaultdict(int))
    for p in good:
        covered = set(days_of(p))
        for k in every:
            if last_day(k) in covered:
                mrr[k][(p.user, p.currency, p.group)] += run_rate(p)
    out: dict[str, Any] = {}
    for k in months:
        pk = prev_month(k)
        earlier_paying = set().union(*(paying[m] for m in every if m < pk))
        month: dict[str, Any] = {
            "mau": sum(1 for days in activity.values() if any(month_key(d) == k for d in days)),
            "paying_users": len(paying[k]),
            "new": len({u for u in paying[k] if all(u not in paying[m] for m in every if m < k)}),
            "churned": len(paying[pk] - paying[k]),
            "reactivated": len({u for u in paying[k] - paying[pk] if u in earlier_paying}),
            "rows": {},
        }
        rows: dict[tuple[str, str], dict[str, int]] = defaultdict(
            lambda: dict.fromkeys(
                ["revenue", "paying_users", "mrr", "new", "react", "up", "down", "churn", "open"], 0
            )
        )
        for (mk, c, g), users in paying_cg.items():
            if mk == k:
                rows[(c, g)]["paying_users"] = len(users)
                rows[(c, g)]["revenue"] = sum(revenue[(mk, c, g)].values())
        keys = set(mrr[k]) | set(mrr[pk])
        for key in keys:
            now, before = mrr[k].get(key, 0), mrr[pk].get(key, 0)
            r = rows[(key[1], key[2])]
            r["mrr"] += now
            r["open"] += before
            if now and not before:
                ever = any(mrr[m].get(key, 0) for m in every if m < k)
                r["react" if ever else "new"] += now
            elif before and not now:
                r["churn"] += before
            elif now > before:
                r["up"] += now - before
            else:
                r["down"] += before - now
        month["rows"] = {key: v for key, v in rows.items() if any(v.values())}
        if target is not None:
            assert rates is not None
            month["converted"] = _converted(k, pk, revenue, mrr, rates, target)
        out[k] = month
    return out


def _rate(rates: dict[str, list[tuple[date, Decimal]]], c: str, target: str, d: date) -> Decimal:
    if c == target:
        return Decimal(1)
    found = [r for day, r in sorted(rates[c]) if day <= d]
    assert found, f"no rate for {c} on {d}"
    return found[-1]


def _conv(amount: int, rate: Decimal, c: str, target: str) -> int:
    shift = EXP.get(target, 2) - EXP.get(c, 2)
    value = Fraction(amount) * Fraction(rate) * Fraction(10) ** shift
    return half_up(value)


def _converted(k, pk, revenue, mrr, rates, target) -> dict[str, dict[str, int]]:  # type: ignore[no-untyped-def]
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"revenue": 0, "mrr": 0, "open": 0})
    for (mk, c, g), days in revenue.items():
        if mk == k:
            for d, amount in days.items():
                if amount:
                    out[g]["revenue"] += _conv(amount, _rate(rates, c, target, d), c, target)
    per_c: dict[tuple[str, str], int] = defaultdict(int)
    for (_, c, g), value in mrr[k].items():
        per_c[(c, g)] += value
    for (c, g), value in per_c.items():
        out[g]["mrr"] += _conv(value, _rate(rates, c, target, last_day(k)), c, target)
    per_o: dict[tuple[str, str], int] = defaultdict(int)
    for (_, c, g), value in mrr[pk].items():
        per_o[(c, g)] += value
    for (c, g), value in per_o.items():
        out[g]["open"] += _conv(value, _rate(rates, c, target, last_day(pk)), c, target)
    return dict(out)
