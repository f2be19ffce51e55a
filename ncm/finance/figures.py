"""The month figures, computed from the ledger set-based in SQL (no Python loop over rows).

One text per query for both dialects; only the date arithmetic differs (``_Dialect``).
Periods are reduced to integers first (day numbers, days, net revenue, run-rate), so the
rest is integer arithmetic that PostgreSQL and SQLite evaluate alike:

- revenue: each counting period adds ``base`` per day from its first day and its remainder
  on its last day; the query returns those steps per (currency, group, day) and Python
  sums the running total over the report's days (a few hundred rows, not the periods);
- paying users: the distinct (user, month) pairs the counting periods touch;
- MRR: the counting periods that cover a month's last day, per (user, currency, group), and
  their movement from the previous month's last day;
- MAU: distinct users of ``user_daily_activity`` in the month (as ``ncm.stream`` counts it).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ncm.finance.money import month_days, month_start
from ncm.kit.db import is_postgres
from ncm.kit.sql import fetch

GROUPS = ("", "plan", "region")  # "" is by currency only (money is always per currency)
NO_PLAN = "(none)"
NO_REGION = "(unknown)"


class _Dialect:
    def __init__(self) -> None:
        self.pg = is_postgres()

    def day(self, column: str) -> str:
        """A timestamp column's UTC day number."""
        if self.pg:
            return f"(({column} AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"
        return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"

    def date_day(self, column: str) -> str:
        """A DATE column's day number."""
        if self.pg:
            return f"({column} - DATE '1970-01-01')"
        return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"

    def month(self, day: str) -> str:
        """The month number (year * 12 + month - 1) of a day-number expression."""
        if self.pg:
            d = f"(DATE '1970-01-01' + ({day}))"
            return f"(EXTRACT(YEAR FROM {d})::int * 12 + EXTRACT(MONTH FROM {d})::int - 1)"
        t = f"({day}) * 86400, 'unixepoch'"
        return (
            f"(CAST(strftime('%Y', {t}) AS INTEGER) * 12"
            f" + CAST(strftime('%m', {t}) AS INTEGER) - 1)"
        )

    def greatest(self, a: str, b: str) -> str:
        return f"GREATEST({a}, {b})" if self.pg else f"MAX({a}, {b})"

    def least(self, a: str, b: str) -> str:
        return f"LEAST({a}, {b})" if self.pg else f"MIN({a}, {b})"

    def months(self, k1: str, k2: str, lo: int, hi: int) -> str:
        """A FROM item giving ``k`` for every month from ``k1`` to ``k2`` (row expressions)
        within ``[lo, hi]``."""
        if self.pg:
            return (
                f"CROSS JOIN LATERAL generate_series({self.greatest(k1, str(lo))},"
                f" {self.least(k2, str(hi))}) AS g(k)"
            )
        values = ", ".join(f"({k})" for k in range(lo, hi + 1))
        return f"JOIN (SELECT column1 AS k FROM (VALUES {values})) g ON g.k BETWEEN {k1} AND {k2}"


def periods_sql(d: _Dialect, by: str, where: str = "") -> str:
    """The counting paid periods as integers: id, user_id, currency, grp, sd (first day), n
    (days), net, base, rem, mrr. ``where`` filters on those (no parameters)."""
    joins, grp = "", "''"
    if by == "plan":
        joins = (
            " LEFT JOIN billing_subscriptions s ON s.stripe_id = mp.subscription_ref"
            " LEFT JOIN billing_plans pl ON pl.stripe_plan_id = s.stripe_plan_id"
        )
        grp = f"COALESCE(pl.code, '{NO_PLAN}')"
    elif by == "region":
        joins = " LEFT JOIN users u ON u.id = mp.user_id"
        grp = f"COALESCE(u.region, '{NO_REGION}')"
    sd, ed = d.day("mp.starts_at"), d.day("mp.ends_at")
    months = d.greatest("1", "(n + 15) / 30")
    inner = (
        f"SELECT mp.id, mp.user_id, mp.currency, {grp} AS grp, mp.amount - mp.tax AS ex_tax,"
        f" {sd} AS sd, {d.greatest('1', f'{ed} - {sd}')} AS n,"
        " (mp.amount - mp.tax) - (2 * mp.refunded * (mp.amount - mp.tax) + mp.amount)"
        " / (2 * mp.amount) AS net"
        f" FROM membership_periods mp{joins}"
        " WHERE mp.source = 'PAID' AND mp.revoked_at IS NULL AND mp.amount > mp.refunded"
    )
    return (
        "SELECT id, user_id, currency, grp, sd, n, net, net / n AS base,"
        f" net - (net / n) * n AS rem, (2 * ex_tax + {months}) / (2 * {months}) AS mrr"
        f" FROM ({inner}) x" + (f" WHERE {where}" if where else "")
    )


@dataclass
class Row:
    currency: str
    group: str
    paying_users: int = 0
    revenue: int = 0
    mrr_open: int = 0
    mrr_new: int = 0
    mrr_expansion: int = 0
    mrr_contraction: int = 0
    mrr_churn: int = 0
    mrr_reactivation: int = 0
    mrr: int = 0


@dataclass
class Block:
    """One month's native figures (every amount in its own currency)."""

    month: int
    mau: int = 0
    paying_users: int = 0
    new_paying_users: int = 0
    churned_paying_users: int = 0
    reactivated_paying_users: int = 0
    rows: dict[tuple[str, str], Row] = field(default_factory=dict)
    group_users: dict[str, int] = field(default_factory=dict)  # across currencies
    group_mau: dict[str, int] = field(default_factory=dict)  # by region only
    daily: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def row(self, currency: str, group: str) -> Row:
        key = (currency, group)
        if key not in self.rows:
            self.rows[key] = Row(currency, group)
        return self.rows[key]

    def to_json(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "mau": self.mau,
            "paying_users": self.paying_users,
            "new_paying_users": self.new_paying_users,
            "churned_paying_users": self.churned_paying_users,
            "reactivated_paying_users": self.reactivated_paying_users,
            "rows": [vars(r) for r in self.rows.values()],
            "group_users": self.group_users,
            "group_mau": self.group_mau,
            "daily": [[c, g, days] for (c, g), days in self.daily.items()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Block:
        block = cls(
            month=data["month"],
            mau=data["mau"],
            paying_users=data["paying_users"],
            new_paying_users=data["new_paying_users"],
            churned_paying_users=data["churned_paying_users"],
            reactivated_paying_users=data["reactivated_paying_users"],
            group_users=dict(data["group_users"]),
            group_mau=dict(data["group_mau"]),
        )
        for r in data["rows"]:
            block.rows[(r["currency"], r["group"])] = Row(**r)
        for c, g, days in data["daily"]:
            block.daily[(c, g)] = list(days)
        return block


async def compute(lo: int, hi: int, by: str) -> dict[int, Block]:
    """Months ``lo..hi`` (month numbers) from the ledger as it is now."""
    d = _Dialect()
    blocks = {k: Block(k) for k in range(lo, hi + 1)}
    await _revenue(d, blocks, lo, hi, by)
    await _paying(d, blocks, lo, hi, by)
    await _transitions(d, blocks, lo, hi)
    await _mrr(d, blocks, lo, hi, by)
    await _mau(d, blocks, lo, hi, by)
    return blocks


async def _revenue(d: _Dialect, blocks: dict[int, Block], lo: int, hi: int, by: str) -> None:
    first, end = month_days(lo)[0], month_days(hi)[1]
    p = periods_sql(d, by, f"sd < {end} AND sd + n > {first}")
    rows = await fetch(
        f"WITH p AS ({p}) SELECT currency, grp, day, SUM(step) AS step, SUM(extra) AS extra"
        " FROM ("
        f" SELECT currency, grp, {d.greatest('sd', str(first))} AS day, base AS step, 0 AS extra"
        " FROM p"
        f" UNION ALL SELECT currency, grp, sd + n, -base, 0 FROM p WHERE sd + n < {end}"
        f" UNION ALL SELECT currency, grp, sd + n - 1, 0, rem FROM p WHERE sd + n - 1 < {end}"
        f" AND sd + n - 1 >= {first}"
        ") e GROUP BY currency, grp, day",
        [],
    )
    steps: dict[tuple[str, str], dict[int, tuple[int, int]]] = defaultdict(dict)
    for r in rows:
        steps[(r["currency"], r["grp"])][int(r["day"])] = (int(r["step"]), int(r["extra"]))
    for key, by_day in steps.items():
        running = 0
        for k in range(lo, hi + 1):
            m0, m1 = month_days(k)
            days = []
            for day in range(m0, m1):
                step, extra = by_day.get(day, (0, 0))
                running += step
                days.append(running + extra)
            if any(days):
                blocks[k].daily[key] = days
                blocks[k].row(*key).revenue = sum(days)


def _user_months(d: _Dialect, p: str, lo: int, hi: int, cols: str) -> str:
    k1, k2 = d.month("sd"), d.month("sd + n - 1")
    return f"SELECT DISTINCT {cols}, g.k AS k FROM ({p}) p {d.months(k1, k2, lo, hi)}"


async def _paying(d: _Dialect, blocks: dict[int, Block], lo: int, hi: int, by: str) -> None:
    first, end = month_days(lo)[0], month_days(hi)[1]
    p = periods_sql(d, by, f"sd < {end} AND sd + n > {first}")
    um = _user_months(d, p, lo, hi, "user_id, currency, grp")
    rows = await fetch(
        f"WITH um AS ({um})"
        " SELECT 'cg' AS kind, k, currency, grp, COUNT(*) AS n FROM um GROUP BY k, currency, grp"
        " UNION ALL SELECT 'g', k, '', grp, COUNT(DISTINCT user_id) FROM um GROUP BY k, grp"
        " UNION ALL SELECT 't', k, '', '', COUNT(DISTINCT user_id) FROM um GROUP BY k",
        [],
    )
    for r in rows:
        block, n = blocks[int(r["k"])], int(r["n"])
        if r["kind"] == "cg":
            block.row(r["currency"], r["grp"]).paying_users = n
        elif r["kind"] == "g":
            block.group_users[r["grp"]] = n
        else:
            block.paying_users = n


async def _transitions(d: _Dialect, blocks: dict[int, Block], lo: int, hi: int) -> None:
    """New (first paying month ever), churned (paying last month, not this one) and
    reactivated (paying now, not last month, but some month before) paying users."""
    first, end = month_days(lo - 1)[0], month_days(hi)[1]
    p = periods_sql(d, "", f"sd < {end} AND sd + n > {first}")
    um = _user_months(d, p, lo - 1, hi, "user_id")
    everything = periods_sql(d, "", f"sd < {end}")
    rows = await fetch(
        f"WITH um AS ({um}),"
        f" f AS (SELECT user_id, MIN({d.month('sd')}) AS f FROM ({everything}) a"
        " WHERE user_id IN (SELECT user_id FROM um) GROUP BY user_id)"
        " SELECT c.k,"
        " SUM(CASE WHEN f.f = c.k THEN 1 ELSE 0 END) AS new,"
        " SUM(CASE WHEN f.f < c.k AND b.user_id IS NULL THEN 1 ELSE 0 END) AS back,"
        " 0 AS gone"
        " FROM um c JOIN f ON f.user_id = c.user_id"
        " LEFT JOIN um b ON b.user_id = c.user_id AND b.k = c.k - 1"
        f" WHERE c.k >= {lo} GROUP BY c.k"
        " UNION ALL SELECT b.k + 1, 0, 0, COUNT(*) FROM um b"
        " LEFT JOIN um c ON c.user_id = b.user_id AND c.k = b.k + 1"
        f" WHERE c.user_id IS NULL AND b.k < {hi} GROUP BY b.k",
        [],
    )
    for r in rows:
        block = blocks[int(r["k"])]
        block.new_paying_users += int(r["new"])
        block.reactivated_paying_users += int(r["back"])
        block.churned_paying_users += int(r["gone"])


async def _mrr(d: _Dialect, blocks: dict[int, Block], lo: int, hi: int, by: str) -> None:
    """MRR at each month's last day per (user, currency, group) and its movements from the
    previous month's last day. A period is live on a month's last day when it covers it:
    it covers the last days of months ``month(sd)`` to ``month(sd + n) - 1``."""
    first = month_days(lo - 1)[1] - 1  # the last day of the month before
    end = month_days(hi)[1]
    p = periods_sql(d, by, f"sd < {end} AND sd + n > {first}")
    k1, k2 = d.month("sd"), f"({d.month('sd + n')} - 1)"
    everything = periods_sql(d, by, f"sd < {end}")
    mr = (
        f"SELECT user_id, currency, grp, g.k AS k, SUM(mrr) AS v FROM ({p}) p"
        f" {d.months(k1, k2, lo - 1, hi)} GROUP BY user_id, currency, grp, g.k"
    )
    rows = await fetch(
        f"WITH mr AS ({mr}),"
        f" fm AS (SELECT user_id, currency, grp, MIN({d.month('sd')}) AS f FROM ({everything}) a"
        f" WHERE {d.month('sd')} < {d.month('sd + n')}"
        " AND user_id IN (SELECT user_id FROM mr) GROUP BY user_id, currency, grp)"
        " SELECT c.k, c.currency, c.grp, SUM(c.v) AS mrr,"
        " SUM(CASE WHEN b.user_id IS NULL AND fm.f = c.k THEN c.v ELSE 0 END) AS new,"
        " SUM(CASE WHEN b.user_id IS NULL AND fm.f < c.k THEN c.v ELSE 0 END) AS back,"
        " SUM(CASE WHEN b.v < c.v THEN c.v - b.v ELSE 0 END) AS up,"
        " SUM(CASE WHEN b.v > c.v THEN b.v - c.v ELSE 0 END) AS down,"
        " 0 AS gone"
        " FROM mr c JOIN fm ON fm.user_id = c.user_id AND fm.currency = c.currency"
        " AND fm.grp = c.grp"
        " LEFT JOIN mr b ON b.user_id = c.user_id AND b.currency = c.currency"
        " AND b.grp = c.grp AND b.k = c.k - 1"
        " GROUP BY c.k, c.currency, c.grp"
        " UNION ALL SELECT b.k + 1, b.currency, b.grp, 0, 0, 0, 0, 0, SUM(b.v) FROM mr b"
        " LEFT JOIN mr c ON c.user_id = b.user_id AND c.currency = b.currency"
        " AND c.grp = b.grp AND c.k = b.k + 1"
        f" WHERE c.user_id IS NULL AND b.k < {hi} GROUP BY b.k, b.currency, b.grp",
        [],
    )
    closing: dict[tuple[int, str, str], int] = defaultdict(int)
    for r in rows:
        k = int(r["k"])
        closing[(k, r["currency"], r["grp"])] += int(r["mrr"])
        if k < lo:
            continue
        row = blocks[k].row(r["currency"], r["grp"])
        row.mrr += int(r["mrr"])
        row.mrr_new += int(r["new"])
        row.mrr_reactivation += int(r["back"])
        row.mrr_expansion += int(r["up"])
        row.mrr_contraction += int(r["down"])
        row.mrr_churn += int(r["gone"])
    for (k, currency, grp), value in closing.items():
        if lo <= k + 1 <= hi and value:
            blocks[k + 1].row(currency, grp).mrr_open = value


async def _mau(d: _Dialect, blocks: dict[int, Block], lo: int, hi: int, by: str) -> None:
    span: list[Any] = [month_start(lo), month_start(hi + 1)]
    if not d.pg:
        span = [x.isoformat() for x in span]
    k = d.month(d.date_day("a.day"))
    rows = await fetch(
        f"SELECT {k} AS k, COUNT(DISTINCT a.user_id) AS n FROM user_daily_activity a"
        f" WHERE a.day >= $1 AND a.day < $2 GROUP BY {k}",
        span,
    )
    for r in rows:
        blocks[int(r["k"])].mau = int(r["n"])
    if by == "region":
        region = f"COALESCE(u.region, '{NO_REGION}')"
        rows = await fetch(
            f"SELECT {k} AS k, {region} AS grp, COUNT(DISTINCT a.user_id) AS n"
            " FROM user_daily_activity a LEFT JOIN users u ON u.id = a.user_id"
            f" WHERE a.day >= $1 AND a.day < $2 GROUP BY {k}, {region}",
            span,
        )
        for r in rows:
            blocks[int(r["k"])].group_mau[r["grp"]] = int(r["n"])
