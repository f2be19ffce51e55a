"""Ledger rows for finance tests, written straight into the tables (the billing tests prove
how Stripe events become these rows)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ncm.billing.models import MembershipPeriod, PeriodSource, Plan, Subscription
from ncm.stream.models import UserDailyActivity

_seq = itertools.count(1)


def at(day: str, hour: int = 0) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC) + timedelta(
        hours=hour
    )


async def period(
    user: Any,
    start: str | datetime,
    end: str | datetime,
    amount: int = 0,
    *,
    currency: str = "CNY",
    source: PeriodSource = PeriodSource.PAID,
    tax: int = 0,
    discount: int = 0,
    refunded: int = 0,
    revoked: bool = False,
    reference: str | None = None,
    subscription: str | None = None,
    plan: str | None = None,
    charge: str | None = None,
    created_at: datetime | None = None,
) -> MembershipPeriod:
    starts_at = at(start) if isinstance(start, str) else start
    ends_at = at(end) if isinstance(end, str) else end
    if plan is None and subscription is not None:  # as billing records it: the plan paid for
        sub = await Subscription.filter(stripe_id=subscription).first()
        plan = sub.stripe_plan_id if sub is not None else None
    row = await MembershipPeriod.create(
        user_id=user if isinstance(user, int) else user.id,
        source=source,
        reference=reference or f"in_{next(_seq)}",
        starts_at=starts_at,
        ends_at=ends_at,
        amount=amount,
        currency=currency,
        tax=tax,
        discount=discount,
        refunded=refunded,
        revoked_at=starts_at if revoked else None,
        subscription_ref=subscription,
        plan_ref=plan,
        charge_ref=charge,
    )
    if created_at is not None:
        await MembershipPeriod.filter(id=row.id).update(created_at=created_at)
        row.created_at = created_at
    return row


async def plan_subscription(user: Any, code: str, amount: int, interval: str = "MONTH") -> str:
    """A plan and a subscription on it; returns the subscription's Stripe id."""
    stripe_plan = f"ncm_{code}"
    await Plan.get_or_create(
        code=code,
        defaults={
            "name": code,
            "interval": interval,
            "amount": amount,
            "currency": "CNY",
            "stripe_plan_id": stripe_plan,
        },
    )
    sub = f"sub_{next(_seq)}"
    await Subscription.create(
        user_id=user.id, stripe_id=sub, stripe_plan_id=stripe_plan, status="active"
    )
    return sub


async def active(user: Any, *days: str) -> None:
    for day in days:
        await UserDailyActivity.create(
            user_id=user if isinstance(user, int) else user.id,
            day=date.fromisoformat(day),
            plays=1,
        )
