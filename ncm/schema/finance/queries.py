"""GraphQL queries of the finance domain (finance and admin roles only)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from ncm.finance.mix import listening_mix
from ncm.finance.report import revenue_report
from ncm.schema.context import Info
from ncm.schema.finance.types import ListeningMixMonth, RevenueGroupBy, RevenueMonth, RevenueReport


@strawberry.type
class FinanceQuery:
    @strawberry.field(
        description="Recognised revenue, paying users, ARPPU, ARPU, MRR and its movements per "
        "month (YYYY-MM), per currency unless `currency` converts with finance's rates. "
        "Finance and admin only. Definitions: docs/metrics.md."
    )
    async def revenue_report(
        self,
        info: Info,
        start: Annotated[str, strawberry.argument(name="from")],
        end: Annotated[str, strawberry.argument(name="to")],
        group_by: RevenueGroupBy | None = None,
        currency: str | None = None,
    ) -> RevenueReport:
        report = await revenue_report(
            start,
            end,
            by=group_by.value if group_by else None,
            currency=currency,
            actor=await info.context.viewer(),
            check_role=True,
        )
        return RevenueReport(
            start=report.start,
            end=report.end,
            group_by=group_by,
            currency=report.currency,
            months=[RevenueMonth.of(m) for m in report.months],
        )

    @strawberry.field(
        description="The share of counted plays by the main artist's region (CN, HK, TW, MO, "
        "INTERNATIONAL) and by genre, per month. Finance and admin only."
    )
    async def listening_mix(
        self,
        info: Info,
        start: Annotated[str, strawberry.argument(name="from")],
        end: Annotated[str, strawberry.argument(name="to")],
    ) -> list[ListeningMixMonth]:
        months = await listening_mix(start, end, actor=await info.context.viewer(), check_role=True)
        return [ListeningMixMonth.of(m) for m in months]
