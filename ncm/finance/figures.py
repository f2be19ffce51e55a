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

from tortoise.transactions import in_transaction

from ncm.finance.money import month_days, month_start
from ncm.kit.db import is_postgres
from ncm.kit.sql import fetch

GROUPS = ("", "plan", "region")
REPORT_WORK_MEM = "256MB"
CHUNK_MONTHS = 48  # "" is by currency only (money is always per currency)
NO_PLAN = "(none)"
NO_REGION = "(unknown)"


class _Dialect:
    """Date arithmetic for the report's months ``lo..hi`` (month numbers)."""

    def __init__(self, lo: int, hi: int) -> None:
        self.pg = is_postgres()
        self.lo, self.hi = lo, hi

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
        """The month number (year * 12 + month - 1) of a day-number expression, exact from
        month ``lo - 1`` to ``hi``; earlier days give ``lo - 2`` or less, later days ``hi + 1``
        or more (every use clamps to the report's months). PostgreSQL finds it by a binary
        search over the months' first days (``width_bucket``), SQLite with ``strftime``."""
        if self.pg:
            starts = ",".join(str(month_days(k)[0]) for k in range(self.lo - 1, self.hi + 2))
            return f"({self.lo - 2} + width_bucket({day}, '{{{starts}}}'::int[]))"
        t = f"({day}) * 86400, 'unixepoch'"
        return (
            f"(CAST(strftime('%Y', {t}) AS INTEGER) * 12"
            f" + CAST(strftime('%m', {t}) AS INTEGER) - 1)"
        )

    def next_month_start(self, day: str) -> str:
        """The day number of the first day of the month after the day's (exact, any date)."""
        if self.pg:
            return (
                f"((date_trunc('month', DATE '1970-01-01' + ({day})) + interval '1 month')::date"
                " - DATE '1970-01-01')"
            )
        return (
            f"CAST(julianday(date(({day}) * 86400, 'unixepoch', 'start of month', '+1 month'))"
            " - 2440587.5 AS INTEGER)"
        )

    def greatest(self, a: str, b: str) -> str:
        return f"GREATEST({a}, {b})" if self.pg else f"MAX({a}, {b})"

    def least(self, a: str, b: str) -> str:
        return f"LEAST({a}, {b})" if self.pg else f"MIN({a}, {b})"

    @property
    def fence(self) -> str:
        """Keeps PostgreSQL from inlining a subquery (its expressions run once a row)."""
        return " OFFSET 0" if self.pg else ""

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


# PostgreSQL keeps the integers the report reads in a covering partial index on the ledger
# (migration 0013): an index-only scan in (user, currency) order, no heap, no per-row date
# arithmetic. The expressions below must stay exactly the index's.
PAID_INDEX_COLUMNS = (
    "user_id, currency, (((starts_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01')),"
    " (((ends_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01')), amount, tax, refunded"
)


Users = tuple[int, int] | None  # the user ids ``[a, b)`` a computation is limited to


def _users_where(column: str, users: Users) -> str:
    """`` AND`` the user-id range (integers: no parameter needed), or nothing."""
    return (
        "" if users is None else f" AND {column} >= {int(users[0])} AND {column} < {int(users[1])}"
    )


def periods_sql(
    d: _Dialect, by: str, first: int | None = None, end: int | None = None, users: Users = None
) -> str:
    """The counting paid periods as integers: user_id, currency, grp, sd (first day), n
    (days), net, base, rem, mrr; only those with a day in ``[first, end)`` when given, and
    of the users ``users`` (an id range, on the ledger index's first column) when given."""
    joins, grp = "", "''"
    if by == "plan":
        joins = " LEFT JOIN billing_plans pl ON pl.stripe_plan_id = mp.plan_ref"
        grp = f"COALESCE(pl.code, '{NO_PLAN}')"
    elif by == "region":
        joins = " LEFT JOIN users u ON u.id = mp.user_id"
        grp = f"COALESCE(u.region, '{NO_REGION}')"
    sd, ed = d.day("mp.starts_at"), d.day("mp.ends_at")
    raw, cut = _users_where("mp.user_id", users), []
    if end is not None:  # sd < end, on the indexed expression
        raw += f" AND {sd} < {end}"
        cut.append(f"sd < {end}")
    if first is not None:  # a superset of sd + n > first (n >= 1), on the indexed expression
        raw += f" AND {ed} >= {first}"
        cut.append(f"sd + n > {first}")
    months = d.greatest("1", "(n + 15) / 30")
    inner = (
        f"SELECT mp.user_id, mp.currency, {grp} AS grp, mp.amount - mp.tax AS ex_tax,"
        f" {sd} AS sd, {ed} AS ed,"
        " (mp.amount - mp.tax) - (2 * mp.refunded * (mp.amount - mp.tax) + mp.amount)"
        " / (2 * mp.amount) AS net"
        f" FROM membership_periods mp{joins}"
        " WHERE mp.source = 'PAID' AND mp.revoked_at IS NULL AND mp.amount > mp.refunded"
        f"{raw}"
    )
    return (
        "SELECT user_id, currency, grp, sd, n, net, net / n AS base,"
        f" net - (net / n) * n AS rem, (2 * ex_tax + {months}) / (2 * {months}) AS mrr"
        f" FROM (SELECT user_id, currency, grp, ex_tax, sd, {d.greatest('1', 'ed - sd')} AS n,"
        f" net FROM ({inner}) a) b" + (f" WHERE {' AND '.join(cut)}" if cut else "")
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


ROW_SUMS = (
    "paying_users",
    "revenue",
    "mrr_open",
    "mrr_new",
    "mrr_expansion",
    "mrr_contraction",
    "mrr_churn",
    "mrr_reactivation",
    "mrr",
)
PER_USER = (
    "mau",
    "paying_users",
    "new_paying_users",
    "churned_paying_users",
    "reactivated_paying_users",
)


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

    def add(self, other: Block, sign: int = 1) -> None:
        """Add (``sign`` 1) or take away (-1) the figures of ``other``, the same month over
        a disjoint set of users: every figure is a sum over users, so the figures of a set
        of users are the sums of its parts' (``ncm.finance.rollup``'s buckets)."""
        for name in PER_USER:
            setattr(self, name, getattr(self, name) + sign * getattr(other, name))
        for key, row in other.rows.items():
            mine = self.row(*key)
            for name in ROW_SUMS:
                setattr(mine, name, getattr(mine, name) + sign * getattr(row, name))
        for mine_map, theirs in (
            (self.group_users, other.group_users),
            (self.group_mau, other.group_mau),
        ):
            for name, value in theirs.items():
                mine_map[name] = mine_map.get(name, 0) + sign * value
        for key, days in other.daily.items():
            found = self.daily.setdefault(key, [0] * len(days))
            for i, amount in enumerate(days):
                found[i] += sign * amount

    def prune(self, by: str) -> None:
        """Drop what sums to nothing, as ``compute`` leaves it out (a row, a day list, a
        group's count), so a summed block equals the one computed at once."""
        self.rows = {k: r for k, r in self.rows.items() if any(getattr(r, n) for n in ROW_SUMS)}
        self.daily = {k: days for k, days in self.daily.items() if any(days)}
        self.group_users = {k: v for k, v in self.group_users.items() if v}
        self.group_mau = {k: v for k, v in self.group_mau.items() if v}
        if not by:
            self.group_users[""] = self.paying_users

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


async def compute(lo: int, hi: int, by: str, users: Users = None) -> dict[int, Block]:
    """Months ``lo..hi`` (month numbers) from the ledger as it is now; of the users with an
    id in ``users`` (``[a, b)``) only, when given (each of their figures is theirs alone:
    a user's history is read whole, so "new" and "reactivated" stay exact)."""
    blocks: dict[int, Block] = {}
    for start in range(lo, hi + 1, CHUNK_MONTHS):  # the month bitmask holds 62 months
        end = min(hi, start + CHUNK_MONTHS - 1)
        d = _Dialect(start, end)
        part = {k: Block(k) for k in range(start, end + 1)}
        async with in_transaction() as conn:
            if d.pg:  # room for the per-user hash tables; the ledger index is on SSD
                await fetch(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'", [], conn)
                await fetch("SET LOCAL random_page_cost = 1.1", [], conn)
            await _revenue(d, part, start, end, by, conn, users)
            await _users(d, part, start, end, by, conn, users)
            await _mau(d, part, start, end, by, conn, users)
        blocks.update(part)
    return blocks


async def _revenue(
    d: _Dialect,
    blocks: dict[int, Block],
    lo: int,
    hi: int,
    by: str,
    conn: Any = None,
    users: Users = None,
) -> None:
    """Each counting period steps a running daily amount up by ``base`` on its first day and
    down after its last, plus its remainder on its last day; the query sums the steps per
    (currency, group, day) and Python runs the total over the report's days."""
    first, end = month_days(lo)[0], month_days(hi)[1]
    p = periods_sql(d, by, first, end, users)
    if d.pg:  # one pass, three hash tables
        rows = await fetch(
            "SELECT currency, grp, a, b, c, SUM(base) AS s, SUM(rem) AS r FROM ("
            f"SELECT currency, grp, GREATEST(sd, {first}) AS a, sd + n AS b, sd + n - 1 AS c,"
            f" base, rem FROM ({p}{d.fence}) p) x"
            " GROUP BY GROUPING SETS ((currency, grp, a), (currency, grp, b), (currency, grp, c))",
            [],
            conn,
        )
        steps = []
        for r in rows:
            if r["a"] is not None:
                steps.append((r["currency"], r["grp"], int(r["a"]), int(r["s"]), 0))
            elif r["b"] is not None:
                steps.append((r["currency"], r["grp"], int(r["b"]), -int(r["s"]), 0))
            else:
                steps.append((r["currency"], r["grp"], int(r["c"]), 0, int(r["r"])))
    else:
        rows = await fetch(
            f"WITH p AS ({p}) SELECT currency, grp, day, SUM(step) AS step, SUM(extra) AS extra"
            f" FROM (SELECT currency, grp, MAX(sd, {first}) AS day, base AS step, 0 AS extra"
            " FROM p UNION ALL SELECT currency, grp, sd + n, -base, 0 FROM p"
            " UNION ALL SELECT currency, grp, sd + n - 1, 0, rem FROM p) e"
            " GROUP BY currency, grp, day",
            [],
            conn,
        )
        steps = [
            (r["currency"], r["grp"], int(r["day"]), int(r["step"]), int(r["extra"])) for r in rows
        ]
    by_key: dict[tuple[str, str], dict[int, list[int]]] = defaultdict(dict)
    for currency, grp, day, step, extra in steps:
        if first <= day < end:
            found = by_key[(currency, grp)].setdefault(day, [0, 0])
            found[0] += step
            found[1] += extra
    for key, by_day in by_key.items():
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


async def _users(
    d: _Dialect,
    blocks: dict[int, Block],
    lo: int,
    hi: int,
    by: str,
    conn: Any = None,
    users: Users = None,
) -> None:
    """Paying users, their movements, MRR and its movements, from one pass over the
    periods grouped by (user, currency, group). The periods are fenced (each period's
    integers computed once, not once per month column that reads them: 6x faster). Months are indexed ``i = K - (lo - 1)``
    (0 is the month before the report). Per group: the paid months (a bitmask ``pm`` on
    PostgreSQL, flags ``p<i>`` on SQLite), the run-rate ``v<i>`` on each month's last day,
    ``fp`` the first paid month and ``fv`` the first month end with a run-rate (-1 for
    "before month 0"). The outer queries compare consecutive months with plain arithmetic:
    new = first ever, reactivated = back after a gap, churned = gone this month."""
    months = list(range(lo - 1, hi + 1))
    n = len(months)
    start0 = month_days(lo - 1)[0]
    end = month_days(hi)[1]
    p = periods_sql(d, by, None, end, users)
    ms, me = d.month("sd"), d.month("sd + n - 1")
    base = lo - 1
    cols = [
        f"MIN(CASE WHEN sd < {start0} THEN -1 ELSE {ms} - {base} END) AS fp",
        f"MIN(CASE WHEN mrr <= 0 THEN NULL WHEN sd < {start0} THEN CASE WHEN sd + n >="
        f" {d.next_month_start('sd')} THEN -1 END WHEN {d.month('sd + n')} > {ms}"
        f" THEN {ms} - {base} END) AS fv",
    ]
    if d.pg:  # the months a period touches as bits, OR-ed per group
        a = f"GREATEST({ms} - {base}, 0)"
        b = f"LEAST({me} - {base}, {n - 1})"
        cols.append(
            f"BIT_OR(CASE WHEN {me} - {base} < 0 THEN 0::bigint ELSE"
            f" (1::bigint << ({b} + 1)) - (1::bigint << {a}) END) AS pm"
        )
    for i, k in enumerate(months):
        m0, m1 = month_days(k)
        if not d.pg:
            cols.append(f"MAX(CASE WHEN sd < {m1} AND sd + n > {m0} THEN 1 ELSE 0 END) AS p{i}")
        cols.append(
            f"SUM(CASE WHEN sd <= {m1 - 1} AND sd + n > {m1 - 1} THEN mrr ELSE 0 END) AS v{i}"
        )
    ucg = (
        f"SELECT user_id, currency, grp, {', '.join(cols)} FROM ({p}{d.fence}) p"
        " GROUP BY user_id, currency, grp"
    )

    def flag(i: int) -> str:
        return f"((pm >> {i}) & 1)" if d.pg else f"p{i}"

    width = 1 + 7 * n
    mrr_cols = ["SUM(v0)", "0", "0", "0", "0", "0"]
    user_cols = [f"SUM({flag(0)})", "0", "0", "0"]
    for i in range(1, n):
        v, pv, f, pf = f"v{i}", f"v{i - 1}", flag(i), flag(i - 1)
        mrr_cols += [
            f"SUM({v})",
            f"SUM(CASE WHEN {v} > 0 AND {pv} = 0 AND fv = {i} THEN {v} ELSE 0 END)",
            f"SUM(CASE WHEN {v} > 0 AND {pv} = 0 AND fv < {i} THEN {v} ELSE 0 END)",
            f"SUM(CASE WHEN {pv} > 0 AND {v} > {pv} THEN {v} - {pv} ELSE 0 END)",
            f"SUM(CASE WHEN {v} > 0 AND {v} < {pv} THEN {pv} - {v} ELSE 0 END)",
            f"SUM(CASE WHEN {pv} > 0 AND {v} = 0 THEN {pv} ELSE 0 END)",
        ]
        user_cols += [
            f"SUM({f})",
            f"SUM(CASE WHEN {f} = 1 AND fp = {i} THEN 1 ELSE 0 END)",
            f"SUM(CASE WHEN {pf} = 1 AND {f} = 0 THEN 1 ELSE 0 END)",
            f"SUM(CASE WHEN {f} = 1 AND {pf} = 0 AND fp < {i} THEN 1 ELSE 0 END)",
        ]

    def pad(values: list[str]) -> str:
        values = values + ["0"] * (width - 1 - len(values))
        return ", ".join(f"{v} AS c{j}" for j, v in enumerate(values))

    flags = "BIT_OR(pm) AS pm" if d.pg else ", ".join(f"MAX(p{i}) AS p{i}" for i in range(n))
    counts = [f"SUM({flag(i)})" for i in range(n)]
    parts = [
        f"SELECT 'cg' AS kind, currency, grp, {pad(counts + mrr_cols)}"
        " FROM ucg GROUP BY currency, grp",
        f"SELECT 't', '', '', {pad(user_cols)} FROM (SELECT MIN(fp) AS fp, {flags} FROM ucg"
        " GROUP BY user_id) u",
    ]
    if by:
        parts.append(
            f"SELECT 'g', '', grp, {pad(counts)} FROM (SELECT grp, {flags} FROM ucg"
            " GROUP BY user_id, grp) ug GROUP BY grp"
        )
    rows = await fetch(f"WITH ucg AS ({ucg}) " + " UNION ALL ".join(parts), [], conn)
    for r in rows:
        c = [int(r[f"c{j}"] or 0) for j in range(width - 1)]
        if r["kind"] == "g":
            for i in range(1, n):
                if c[i]:
                    blocks[lo + i - 1].group_users[r["grp"]] = c[i]
        elif r["kind"] == "t":
            for i in range(1, n):
                block = blocks[lo + i - 1]
                paying, new, churned, back = c[4 * i : 4 * i + 4]
                block.paying_users = paying
                block.new_paying_users = new
                block.churned_paying_users = churned
                block.reactivated_paying_users = back
                if not by:
                    block.group_users[""] = paying
        else:
            mrr = c[n:]
            for i in range(1, n):
                values = mrr[6 * i : 6 * i + 6]
                if not (c[i] or any(values) or mrr[6 * (i - 1)]):
                    continue
                row = blocks[lo + i - 1].row(r["currency"], r["grp"])
                row.paying_users = c[i]
                row.mrr_open = mrr[6 * (i - 1)]
                (
                    row.mrr,
                    row.mrr_new,
                    row.mrr_reactivation,
                    row.mrr_expansion,
                    row.mrr_contraction,
                    row.mrr_churn,
                ) = values


async def _mau(
    d: _Dialect,
    blocks: dict[int, Block],
    lo: int,
    hi: int,
    by: str,
    conn: Any = None,
    users: Users = None,
) -> None:
    span: list[Any] = [month_start(lo), month_start(hi + 1)]
    if not d.pg:
        span = [x.isoformat() for x in span]
    k = d.month(d.date_day("a.day"))
    only = _users_where("a.user_id", users)
    rows = await fetch(
        f"SELECT {k} AS k, COUNT(DISTINCT a.user_id) AS n FROM user_daily_activity a"
        f" WHERE a.day >= $1 AND a.day < $2{only} GROUP BY {k}",
        span,
        conn,
    )
    for r in rows:
        blocks[int(r["k"])].mau = int(r["n"])
    if by == "region":
        region = f"COALESCE(u.region, '{NO_REGION}')"
        rows = await fetch(
            f"SELECT {k} AS k, {region} AS grp, COUNT(DISTINCT a.user_id) AS n"
            " FROM user_daily_activity a LEFT JOIN users u ON u.id = a.user_id"
            f" WHERE a.day >= $1 AND a.day < $2{only} GROUP BY {k}, {region}",
            span,
            conn,
        )
        for r in rows:
            blocks[int(r["k"])].group_mau[r["grp"]] = int(r["n"])


async def count_mau(lo: int, hi: int, blocks: dict[int, Block], by: str) -> None:
    """Set the MAU (and by region, the MAU per region) of months ``lo..hi`` in ``blocks``."""
    await _mau(_Dialect(lo, hi), blocks, lo, hi, by)
