"""``reconcile_window``: every invoice and subscription of a window, paged through the
wrapper, compared with the ledger and the mirror; each difference typed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ncm.billing import reconcile, subscriptions
from ncm.billing.entitlement import utcnow
from ncm.billing.models import Customer, MembershipPeriod, PeriodSource, Subscription
from ncm.billing.reconcile import DifferenceKind, ObjectKind
from ncm.billing.stripe import gateway
from ncm.billing.subscriptions import StartMode
from ncm.errors import InvalidInput
from tests.conftest import make_user


async def _member(handle: str) -> Any:
    user = await make_user(handle)
    await subscriptions.start_membership(
        user, "vip_monthly", mode=StartMode.DIRECT, payment_method_id="pm_card_visa"
    )
    return user


async def test_every_difference_of_the_window_is_reported_typed(vip_plans: Any) -> None:
    ok, b, c, d = [await _member(h) for h in ("oki", "bea", "cai", "dan")]
    window = (utcnow() - timedelta(hours=1), utcnow() + timedelta(hours=1))
    assert await reconcile.reconcile_window(*window, page_size=2) == []

    # b: the ledger lost its paid period and the mirror its cancellation
    b_period = await MembershipPeriod.get(user_id=b.id, source="PAID")
    await b_period.delete()
    await Subscription.filter(user_id=b.id).update(cancel_at_period_end=True)
    # c: the ledger records another amount
    await MembershipPeriod.filter(user_id=c.id).update(amount=999)
    # d: a second live subscription made in Stripe behind our back
    customer = await Customer.get(user_id=d.id)
    extra = await gateway().create_subscription(
        customer=customer.stripe_id,
        plan_id="ncm_vip_yearly_15800_cny",
        user_id=d.id,
        key="behind-our-back",
    )
    d_sub = await Subscription.get(user_id=d.id)
    # local rows Stripe never heard of
    await MembershipPeriod.create(
        user_id=ok.id,
        source=PeriodSource.PAID,
        reference="in_ghost",
        starts_at=utcnow(),
        ends_at=utcnow() + timedelta(days=30),
        amount=1500,
        currency="CNY",
    )
    await Subscription.create(user_id=ok.id, stripe_id="sub_ghost", status="active")

    found = await reconcile.reconcile_window(*window, page_size=2)
    got = {(x.kind, x.object, x.stripe_id, x.user_id, x.field) for x in found}
    extra_invoice = extra["latest_invoice"]["id"]
    assert got == {
        (DifferenceKind.MISSING_LOCALLY, ObjectKind.INVOICE, b_period.reference, b.id, None),
        (
            DifferenceKind.MISMATCH,
            ObjectKind.SUBSCRIPTION,
            (await Subscription.get(user_id=b.id)).stripe_id,
            b.id,
            "cancel_at_period_end",
        ),
        (
            DifferenceKind.MISMATCH,
            ObjectKind.INVOICE,
            (await MembershipPeriod.get(user_id=c.id)).reference,
            c.id,
            "amount",
        ),
        (DifferenceKind.MISSING_LOCALLY, ObjectKind.SUBSCRIPTION, extra["id"], d.id, None),
        (DifferenceKind.MISSING_LOCALLY, ObjectKind.INVOICE, extra_invoice, d.id, None),
        (DifferenceKind.DUPLICATE_LIVE, ObjectKind.SUBSCRIPTION, extra["id"], d.id, None),
        (DifferenceKind.DUPLICATE_LIVE, ObjectKind.SUBSCRIPTION, d_sub.stripe_id, d.id, None),
        (DifferenceKind.MISSING_IN_STRIPE, ObjectKind.INVOICE, "in_ghost", ok.id, None),
        (DifferenceKind.MISSING_IN_STRIPE, ObjectKind.SUBSCRIPTION, "sub_ghost", ok.id, None),
    }
    amount = next(x for x in found if x.field == "amount")
    assert (amount.local, amount.stripe) == (999, 1500)
    assert "999" in amount.message and "1500" in amount.message
    # The same answer with one item per page, and nothing in a window before any of it.
    assert {
        (x.kind, x.stripe_id) for x in await reconcile.reconcile_window(*window, page_size=1)
    } == {(x.kind, x.stripe_id) for x in found}
    before = (window[0] - timedelta(days=30), window[0])
    assert await reconcile.reconcile_window(*before) == []

    repairs = await reconcile.reconcile(*window, execute=True)
    repaired = {(r.difference.kind, r.difference.stripe_id) for r in repairs if r.repaired}
    assert (DifferenceKind.MISSING_LOCALLY, b_period.reference) in repaired
    assert await MembershipPeriod.filter(user_id=b.id, source="PAID").exists()
    assert not (await Subscription.get(user_id=b.id)).cancel_at_period_end
    left = {(x.kind, x.stripe_id) for x in await reconcile.reconcile_window(*window)}
    assert (DifferenceKind.MISSING_LOCALLY, b_period.reference) not in left
    assert (DifferenceKind.MISMATCH, (await MembershipPeriod.get(user_id=c.id)).reference) in left


async def test_the_window_must_be_ordered_and_aware() -> None:
    now = utcnow()
    with pytest.raises(InvalidInput):
        await reconcile.reconcile_window(now, now - timedelta(days=1))
    with pytest.raises(InvalidInput):
        await reconcile.reconcile_window(now.replace(tzinfo=None), None)
