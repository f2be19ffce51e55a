"""The revenue report: the months' figures (stored for a closed month, computed from the
ledger for an open one), their adjustments, and the conversion to a reporting currency."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ncm.accounts.models import Role, User
from ncm.accounts.permissions import require_role
from ncm.errors import InvalidInput
from ncm.finance import closing, rollup
from ncm.finance.errors import FinanceErrorCode
from ncm.finance.figures import Block
from ncm.finance.money import (
    convert,
    day_of,
    divide,
    month_days,
    month_name,
    parse_currency,
    parse_range,
    ratio,
)
from ncm.finance.rates import RateBook

GROUP_BY = {None: "", "": "", "currency": "", "plan": "plan", "region": "region"}
MOVEMENTS = (
    "mrr_new",
    "mrr_expansion",
    "mrr_contraction",
    "mrr_churn",
    "mrr_reactivation",
)


def parse_group(by: str | None) -> str:
    key = by.strip().lower() if by else None
    if key not in GROUP_BY:
        raise InvalidInput(
            "Group by plan, region or currency.", field="by", code=FinanceErrorCode.BAD_GROUP
        )
    return GROUP_BY[key]


@dataclass
class Report:
    start: str
    end: str
    by: str | None
    currency: str | None
    months: list[dict[str, Any]]
    stale: list[str]  # months read from the rollup although a later ledger change is pending

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.start,
            "to": self.end,
            "by": self.by,
            "currency": self.currency,
            "stale_months": self.stale,
            "months": self.months,
        }

    def lines(self) -> list[dict[str, Any]]:
        """One flat line per month and row (for tables and CSV)."""
        out = []
        for m in self.months:
            head = {k: v for k, v in m.items() if k not in {"rows", "adjustments"}}
            for row in m["rows"] or [{}]:
                out.append({**head, **row})
        return out


async def revenue_report(
    start: str,
    end: str,
    *,
    by: str | None = None,
    currency: str | None = None,
    actor: User | None = None,
    check_role: bool = False,
    refresh: bool = True,
) -> Report:
    """The months' figures: closed months as stored, open months from the rollup (stale
    or missing months computed first; with ``refresh=False`` stale months are read as
    stored and named in ``Report.stale``). Each month says ``as_of`` when it was computed."""
    if check_role:
        require_role(actor, Role.FINANCE)
    lo, hi = parse_range(start, end)
    group = parse_group(by)
    target = parse_currency(currency) if currency else None
    closed = await closing.closed_months()
    blocks: dict[int, Block] = {}
    stored_adjustments: dict[int, list[dict[str, Any]]] = {}
    for k in range(lo, hi + 1):
        if k in closed:
            stored = json.loads(closed[k].figures)
            blocks[k] = Block.from_json(stored["by"][group])
            stored_adjustments[k] = stored["adjustments"]
    computed_at: dict[int, str] = {}
    stale: list[str] = []
    for start_k, end_k in rollup.runs([k for k in range(lo, hi + 1) if k not in closed]):
        read = await rollup.blocks(start_k, end_k, group, refresh_stale=refresh)
        blocks.update(read.blocks)
        computed_at.update({k: at.isoformat() for k, at in read.computed_at.items()})
        stale += [month_name(k) for k in read.stale]
    live = [a.to_json() for a in await closing.adjustments(closed) if lo <= a.month <= hi]
    book = await RateBook.load(target) if target else None
    months = []
    for k in range(lo, hi + 1):
        block = blocks[k]
        adjustments = stored_adjustments.get(k) or [a for a in live if a["month"] == month_name(k)]
        months.append(
            {
                "month": month_name(k),
                "closed": k in closed,
                "as_of": closed[k].closed_at.isoformat() if k in closed else computed_at[k],
                "mau": block.mau,
                "paying_users": block.paying_users,
                "paying_ratio": ratio(block.paying_users, block.mau),
                "new_paying_users": block.new_paying_users,
                "churned_paying_users": block.churned_paying_users,
                "reactivated_paying_users": block.reactivated_paying_users,
                "rows": _native_rows(block, group)
                if book is None or target is None
                else _converted_rows(block, group, target, book),
                "adjustments": adjustments
                if book is None or target is None
                else _converted_adjustments(adjustments, target, book),
            }
        )
    return Report(month_name(lo), month_name(hi), by or None, target, months, stale)


def _mau_of(block: Block, group: str, name: str) -> int:
    return block.group_mau.get(name, 0) if group == "region" else block.mau


def _money_row(
    block: Block, group: str, name: str, paying: int, values: dict[str, int]
) -> dict[str, Any]:
    mau = _mau_of(block, group, name)
    out: dict[str, Any] = {
        "group": name if group else None,
        "paying_users": paying,
        "revenue": values["revenue"],
        "arppu": divide(values["revenue"], paying),
        "arpu": divide(values["revenue"], mau),
    }
    if group == "region":
        out["mau"] = mau
        out["paying_ratio"] = ratio(paying, mau)
    out["mrr_open"] = values["mrr_open"]
    for key in MOVEMENTS:
        out[key] = values[key]
    if "mrr_fx" in values:
        out["mrr_fx"] = values["mrr_fx"]
    out["mrr"] = values["mrr"]
    return out


def _native_rows(block: Block, group: str) -> list[dict[str, Any]]:
    rows = []
    for (currency, name), row in sorted(block.rows.items()):
        values = {k: v for k, v in vars(row).items() if k not in {"currency", "group"}}
        rows.append(
            {"currency": currency, **_money_row(block, group, name, row.paying_users, values)}
        )
    return rows


def _converted_rows(block: Block, group: str, target: str, book: RateBook) -> list[dict[str, Any]]:
    k = block.month
    first, end = month_days(k)
    month_end, previous_end = day_of(end - 1), day_of(first - 1)
    totals: dict[str, dict[str, int]] = {}
    for (currency, name), row in block.rows.items():
        t = totals.setdefault(
            name, {"revenue": 0, "mrr_open": 0, "mrr": 0, **dict.fromkeys(MOVEMENTS, 0)}
        )
        for i, amount in enumerate(block.daily.get((currency, name), [])):
            if amount:
                t["revenue"] += convert(
                    amount, book.rate(currency, target, day_of(first + i)), currency, target
                )
        if row.mrr_open:
            rate = book.rate(currency, target, previous_end)
            t["mrr_open"] += convert(row.mrr_open, rate, currency, target)
        for key in ("mrr", *MOVEMENTS):
            value = getattr(row, key)
            if value:
                t[key] += convert(value, book.rate(currency, target, month_end), currency, target)
    rows = []
    for name, t in sorted(totals.items()):
        bridge = (
            t["mrr_open"]
            + t["mrr_new"]
            + t["mrr_expansion"]
            - t["mrr_contraction"]
            - t["mrr_churn"]
            + t["mrr_reactivation"]
        )
        t["mrr_fx"] = t["mrr"] - bridge
        paying = block.group_users.get(name, 0) if group else block.paying_users
        rows.append({"currency": target, **_money_row(block, group, name, paying, t)})
    return rows


def _converted_adjustments(
    adjustments: list[dict[str, Any]], target: str, book: RateBook
) -> list[dict[str, Any]]:
    from datetime import date

    out = []
    for a in adjustments:
        rate = book.rate(a["currency"], target, date.fromisoformat(a["day"]))
        out.append(
            {**a, "converted": convert(a["amount"], rate, a["currency"], target), "to": target}
        )
    return out
