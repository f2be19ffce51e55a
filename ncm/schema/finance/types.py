"""GraphQL types of finance: the revenue report and the listening mix.

Amounts are integers in minor units given as decimal strings ("184300" fen): money and play
counts can pass GraphQL's 32-bit Int, and a string is exact at any size."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry


def _s(value: int | None) -> str | None:
    return None if value is None else str(value)


@strawberry.enum(description="What the revenue report's rows are grouped by (and currency).")
class RevenueGroupBy(Enum):
    CURRENCY = "currency"
    PLAN = "plan"
    REGION = "region"


@strawberry.type(description="One currency (and group) of a month. Amounts in minor units.")
class RevenueRow:
    currency: str
    group: str | None = strawberry.field(description="The plan code or region; null by currency.")
    paying_users: int
    revenue: str = strawberry.field(description="Recognised revenue (see docs/metrics.md).")
    arppu: str | None
    arpu: str | None
    mau: int | None = strawberry.field(description="The region's MAU (by region only).")
    paying_ratio: str | None = strawberry.field(description="By region only; 4 decimals.")
    mrr_open: str = strawberry.field(description="MRR at the previous month's end.")
    mrr_new: str
    mrr_expansion: str
    mrr_contraction: str
    mrr_churn: str
    mrr_reactivation: str
    mrr_fx: str | None = strawberry.field(
        description="In a reporting currency: what the rate change adds to the bridge."
    )
    mrr: str = strawberry.field(description="MRR at the month's end.")

    @classmethod
    def of(cls, row: dict[str, Any]) -> RevenueRow:
        return cls(
            currency=row["currency"],
            group=row["group"],
            paying_users=row["paying_users"],
            revenue=str(row["revenue"]),
            arppu=_s(row["arppu"]),
            arpu=_s(row["arpu"]),
            mau=row.get("mau"),
            paying_ratio=row.get("paying_ratio"),
            mrr_open=str(row["mrr_open"]),
            mrr_new=str(row["mrr_new"]),
            mrr_expansion=str(row["mrr_expansion"]),
            mrr_contraction=str(row["mrr_contraction"]),
            mrr_churn=str(row["mrr_churn"]),
            mrr_reactivation=str(row["mrr_reactivation"]),
            mrr_fx=_s(row.get("mrr_fx")),
            mrr=str(row["mrr"]),
        )


@strawberry.type(description="A change to a closed month's revenue, shown where it happened.")
class RevenueAdjustment:
    month: str
    adjusts: str = strawberry.field(description="The closed month it changes.")
    kind: str = strawberry.field(description="refund or late_invoice.")
    reference: str = strawberry.field(description="The invoice.")
    day: str
    currency: str
    amount: str
    converted: str | None = strawberry.field(description="In the reporting currency.")

    @classmethod
    def of(cls, a: dict[str, Any]) -> RevenueAdjustment:
        return cls(
            month=a["month"],
            adjusts=a["adjusts"],
            kind=a["kind"],
            reference=a["reference"],
            day=a["day"],
            currency=a["currency"],
            amount=str(a["amount"]),
            converted=_s(a.get("converted")),
        )


@strawberry.type
class RevenueMonth:
    month: str
    closed: bool = strawberry.field(description="Stored at close; it never changes again.")
    as_of: str = strawberry.field(
        description="When these figures were computed from the ledger (ISO 8601 UTC; for a "
        "closed month, when it was closed). Ledger changes since then are in the figures: a "
        "stale month is computed again before it is read."
    )
    mau: int
    paying_users: int
    paying_ratio: str | None
    new_paying_users: int
    churned_paying_users: int
    reactivated_paying_users: int
    rows: list[RevenueRow]
    adjustments: list[RevenueAdjustment]

    @classmethod
    def of(cls, m: dict[str, Any]) -> RevenueMonth:
        return cls(
            month=m["month"],
            closed=m["closed"],
            as_of=m["as_of"],
            mau=m["mau"],
            paying_users=m["paying_users"],
            paying_ratio=m["paying_ratio"],
            new_paying_users=m["new_paying_users"],
            churned_paying_users=m["churned_paying_users"],
            reactivated_paying_users=m["reactivated_paying_users"],
            rows=[RevenueRow.of(r) for r in m["rows"]],
            adjustments=[RevenueAdjustment.of(a) for a in m["adjustments"]],
        )


@strawberry.type(description="Recognised revenue, paying users, ARPPU, ARPU and MRR by month.")
class RevenueReport:
    start: str = strawberry.field(name="from")
    end: str = strawberry.field(name="to")
    group_by: RevenueGroupBy | None
    currency: str | None = strawberry.field(description="The reporting currency, if any.")
    months: list[RevenueMonth]


@strawberry.type
class MixShare:
    key: str = strawberry.field(description="A region bucket or a genre slug.")
    name: str
    plays: str
    share: str | None = strawberry.field(description="Of the month's counted plays; 4 decimals.")


@strawberry.type(description="Counted plays by the main artist's region and by genre.")
class ListeningMixMonth:
    month: str
    plays: str
    domestic_share: str | None = strawberry.field(description="CN, HK, TW and MO together.")
    international_share: str | None
    regions: list[MixShare]
    genres: list[MixShare]

    @classmethod
    def of(cls, m: dict[str, Any]) -> ListeningMixMonth:
        return cls(
            month=m["month"],
            plays=str(m["plays"]),
            domestic_share=m["domestic_share"],
            international_share=m["international_share"],
            regions=[
                MixShare(key=r["region"], name=r["region"], plays=str(r["plays"]), share=r["share"])
                for r in m["regions"]
            ],
            genres=[
                MixShare(key=g["genre"], name=g["name"], plays=str(g["plays"]), share=g["share"])
                for g in m["genres"]
            ],
        )
