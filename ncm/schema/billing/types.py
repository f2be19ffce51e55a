"""GraphQL types of billing: plans, the viewer's membership and its ledger periods."""

from __future__ import annotations

from datetime import datetime

import strawberry

from ncm.billing import ledger, plans
from ncm.billing.models import Interval, PeriodSource
from ncm.billing.models import MembershipPeriod as PeriodModel
from ncm.billing.models import Plan as PlanModel
from ncm.billing.subscriptions import StartMode
from ncm.schema.base import Node, to_global_id
from ncm.schema.nodes import register_node

strawberry.enum(Interval, name="BillingInterval")
strawberry.enum(
    PeriodSource,
    name="MembershipSource",
    description="Where a membership period comes from: a paid invoice, a trial, a failed "
    "renewal's grace window, a compensation grant or an operator's grant.",
)
strawberry.enum(
    StartMode,
    name="StartMembershipMode",
    description="CHECKOUT: pay on Stripe's hosted page. DIRECT: with a payment method the app "
    "collected (Stripe SDK).",
)


@strawberry.type(description="A membership plan on sale. Amounts are in minor units.")
class MembershipPlan(Node):
    code: str
    name: str
    tier: str
    interval: Interval
    amount: int = strawberry.field(description="Minor units (fen for CNY) per interval.")
    currency: str = strawberry.field(description="ISO 4217, uppercase.")

    @classmethod
    def from_model(cls, m: PlanModel) -> MembershipPlan:
        return cls(
            id=to_global_id("MembershipPlan", m.id),
            code=m.code,
            name=m.name,
            tier=m.tier,
            interval=m.interval,
            amount=m.amount,
            currency=m.currency,
        )


@strawberry.type(description="One stretch of membership in the ledger.")
class MembershipPeriod:
    source: PeriodSource
    tier: str
    starts_at: datetime
    ends_at: datetime
    amount: int = strawberry.field(description="Paid, in minor units (0 unless PAID).")
    currency: str | None
    discount: int
    tax: int
    refunded: int
    revoked: bool = strawberry.field(description="Fully refunded: it no longer entitles.")

    @classmethod
    def from_model(cls, m: PeriodModel) -> MembershipPeriod:
        return cls(
            source=m.source,
            tier=m.tier,
            starts_at=m.starts_at,
            ends_at=m.ends_at,
            amount=m.amount,
            currency=m.currency or None,
            discount=m.discount,
            tax=m.tax,
            refunded=m.refunded,
            revoked=m.revoked_at is not None,
        )


@strawberry.type(description="The viewer's membership now, its renewal and its history.")
class Membership:
    active: bool
    tier: str | None
    active_until: datetime | None = strawberry.field(
        description="The end of the unbroken run of periods that covers now."
    )
    source: PeriodSource | None
    auto_renew: bool = strawberry.field(description="A subscription will renew it.")
    status: str | None = strawberry.field(description="Stripe's subscription status, if any.")
    plan_code: str | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    _periods: strawberry.Private[list[PeriodModel]]

    @strawberry.field(description="Periods, newest first.")
    def periods(self, first: int = 24) -> list[MembershipPeriod]:
        return [MembershipPeriod.from_model(p) for p in self._periods[: max(0, min(first, 100))]]

    @classmethod
    def from_view(cls, m: ledger.Membership, plan_code: str | None) -> Membership:
        e, sub = m.entitlement, m.subscription
        return cls(
            active=e.active,
            tier=e.tier,
            active_until=e.active_until,
            source=PeriodSource(e.source) if e.source else None,
            auto_renew=m.auto_renew,
            status=sub.status if sub else None,
            plan_code=plan_code,
            current_period_end=sub.current_period_end if sub else None,
            cancel_at_period_end=bool(sub and sub.cancel_at_period_end),
            _periods=m.periods,
        )


async def membership_of(user_id: int) -> Membership:
    view = await ledger.membership(user_id)
    plan_code = None
    if view.subscription and view.subscription.stripe_plan_id:
        plan = await plans.plan_for_stripe_id(view.subscription.stripe_plan_id)
        plan_code = plan.code if plan else None
    return Membership.from_view(view, plan_code)


async def _plans_by_ids(ids: list[int]) -> dict[int, PlanModel]:
    return {p.id: p for p in await PlanModel.filter(id__in=ids)}


register_node("MembershipPlan", _plans_by_ids, MembershipPlan.from_model)
