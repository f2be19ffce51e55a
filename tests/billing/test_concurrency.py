"""At most one live subscription per user, whatever the timing: concurrent starts (any
idempotency keys, any plans) end with one Stripe subscription and one PAID period; the
others get a typed ALREADY_SUBSCRIBED conflict. Real concurrency against localstripe."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from ncm.billing import subscriptions, sync
from ncm.billing.entitlement import utcnow
from ncm.billing.errors import BillingErrorCode
from ncm.billing.models import (
    ClaimAction,
    ClaimState,
    Customer,
    MembershipPeriod,
    Subscription,
    SubscriptionClaim,
)
from ncm.billing.stripe import gateway
from ncm.billing.subscriptions import StartMode
from ncm.errors import Conflict
from ncm.schema.base import to_global_id
from tests.billing.helpers import stripe_subscriptions
from tests.conftest import login_token, make_user


async def _attempt(user: Any, plan: str, n: int) -> Any:
    try:
        return await subscriptions.start_membership(
            user,
            plan,
            mode=StartMode.DIRECT,
            payment_method_id="pm_card_visa",
            idempotency_key=f"device-{n:04d}-key",
        )
    except Conflict as exc:
        return exc


async def test_fifty_concurrent_starts_make_one_subscription(
    vip_plans: list[Any], stripe_env: str
) -> None:
    user = await make_user()
    results = await asyncio.gather(
        *(_attempt(user, ("vip_monthly", "vip_yearly")[n % 2], n) for n in range(50))
    )
    won = [r for r in results if not isinstance(r, Conflict)]
    lost = [r for r in results if isinstance(r, Conflict)]
    assert len(won) == 1 and len(lost) == 49
    assert {e.code for e in lost} == {BillingErrorCode.ALREADY_SUBSCRIBED}
    customer = (await Customer.get(user_id=user.id)).stripe_id
    remote = await stripe_subscriptions(stripe_env, customer)
    assert [s["status"] for s in remote] == ["active"]
    assert await Subscription.filter(user_id=user.id).count() == 1
    assert await MembershipPeriod.filter(user_id=user.id, source="PAID").count() == 1
    claim = await SubscriptionClaim.get(user_id=user.id)
    assert (claim.state, claim.subscription_ref) == (ClaimState.DONE, remote[0]["id"])

    # A second wave after the first finished: all refused, still one subscription.
    again = await asyncio.gather(*(_attempt(user, "vip_yearly", 100 + n) for n in range(5)))
    assert all(isinstance(r, Conflict) for r in again)
    assert len(await stripe_subscriptions(stripe_env, customer)) == 1


async def test_concurrent_starts_over_graphql(gql: Any, vip_plans: list[Any]) -> None:
    user = await make_user()
    token = await login_token(user)
    query = """mutation($input: StartMembershipInput!) { startMembership(input: $input) {
      __typename ... on Error { code } } }"""

    async def start(plan: Any, key: str) -> dict[str, Any]:
        variables = {
            "input": {
                "planId": to_global_id("MembershipPlan", plan.id),
                "mode": "DIRECT",
                "paymentMethodId": "pm_card_visa",
                "idempotencyKey": key,
            }
        }
        body = await gql(query, variables, token=token)
        result: dict[str, Any] = body["data"]["startMembership"]
        return result

    monthly, yearly = vip_plans
    results = await asyncio.gather(start(monthly, "phone-key-1"), start(yearly, "tablet-key-2"))
    assert sorted(r["__typename"] for r in results) == ["ConflictError", "StartMembershipPayload"]
    assert [r.get("code") for r in results if r["__typename"] == "ConflictError"] == [
        "ALREADY_SUBSCRIBED"
    ]
    assert await MembershipPeriod.filter(user_id=user.id, source="PAID").count() == 1


async def test_retry_with_the_winning_key_returns_the_same_subscription(
    vip_plans: list[Any],
) -> None:
    user = await make_user()
    first = await _attempt(user, "vip_monthly", 1)
    again = await _attempt(user, "vip_monthly", 1)
    other = await _attempt(user, "vip_monthly", 2)
    assert first.subscription.stripe_id == again.subscription.stripe_id
    assert isinstance(other, Conflict) and other.code == BillingErrorCode.ALREADY_SUBSCRIBED


async def test_a_start_in_flight_blocks_starts_and_changes(vip_plans: list[Any]) -> None:
    user = await make_user()
    await SubscriptionClaim.create(
        user_id=user.id,
        action=ClaimAction.START,
        key="start:elsewhere",
        state=ClaimState.PENDING,
        started_at=utcnow(),
    )
    with pytest.raises(Conflict) as refused:
        await subscriptions.start_membership(
            user, "vip_monthly", mode=StartMode.DIRECT, payment_method_id="pm_card_visa"
        )
    assert refused.value.code == BillingErrorCode.ALREADY_SUBSCRIBED
    assert not await Customer.exists()  # refused before any Stripe call
    # A claim left by a process that died frees the user after a while.
    await SubscriptionClaim.filter(user_id=user.id).update(
        started_at=utcnow() - subscriptions.CLAIM_STALE - timedelta(seconds=1)
    )
    result = await subscriptions.start_membership(
        user, "vip_monthly", mode=StartMode.DIRECT, payment_method_id="pm_card_visa"
    )
    assert result.subscription is not None and result.subscription.status == "active"

    await SubscriptionClaim.filter(user_id=user.id).update(
        state=ClaimState.PENDING, action=ClaimAction.CHANGE, started_at=utcnow()
    )
    with pytest.raises(Conflict) as busy:
        await subscriptions.change_plan(user, "vip_yearly")
    assert busy.value.code == BillingErrorCode.CHANGE_IN_PROGRESS
    await SubscriptionClaim.filter(user_id=user.id).update(state=ClaimState.DONE)
    changed = await subscriptions.change_plan(user, "vip_yearly")
    assert changed.stripe_plan_id == "ncm_vip_yearly_15800_cny"


async def test_concurrent_plan_changes_end_where_stripe_is(vip_plans: list[Any]) -> None:
    from ncm.billing import plans
    from ncm.billing.models import Interval

    await plans.set_plan(
        "vip_family", name="VIP family", interval=Interval.MONTH, amount=2500, currency="CNY"
    )
    await plans.sync()
    user = await make_user()
    await subscriptions.start_membership(
        user, "vip_monthly", mode=StartMode.DIRECT, payment_method_id="pm_card_visa"
    )

    async def change(code: str) -> Any:
        try:
            return await subscriptions.change_plan(user, code)
        except Conflict as exc:
            return exc

    results = await asyncio.gather(change("vip_yearly"), change("vip_family"))
    refused = [r for r in results if isinstance(r, Conflict)]
    assert {r.code for r in refused} <= {BillingErrorCode.CHANGE_IN_PROGRESS}
    assert len(refused) <= 1
    local = await Subscription.get(user_id=user.id)
    remote = await gateway().retrieve_subscription(local.stripe_id)
    assert remote is not None
    assert local.stripe_plan_id == remote["items"]["data"][0]["plan"]["id"]


async def test_a_subscription_stripe_made_but_we_never_recorded_blocks_a_new_start(
    vip_plans: list[Any], stripe_env: str
) -> None:
    """A lost answer (timeout after Stripe subscribed): the next start, with another key,
    finds it in Stripe, records it and refuses instead of subscribing twice."""
    user = await make_user()
    customer = await subscriptions.ensure_customer(user)
    stripe = gateway()
    await stripe.attach_payment_method(customer.stripe_id, "pm_card_visa", "lost-attach")
    lost = await stripe.create_subscription(
        customer=customer.stripe_id,
        plan_id="ncm_vip_monthly_1500_cny",
        user_id=user.id,
        key="lost-subscribe",
    )
    with pytest.raises(Conflict) as refused:
        await subscriptions.start_membership(
            user,
            "vip_yearly",
            mode=StartMode.DIRECT,
            payment_method_id="pm_card_visa",
            idempotency_key="another-device",
        )
    assert refused.value.code == BillingErrorCode.ALREADY_SUBSCRIBED
    assert [s["id"] for s in await stripe_subscriptions(stripe_env, customer.stripe_id)] == [
        lost["id"]
    ]
    assert (await Subscription.get(user_id=user.id)).stripe_id == lost["id"]


async def test_cancel_stops_every_live_subscription_not_only_the_newest(
    vip_plans: list[Any], stripe_env: str
) -> None:
    # The tail: with two live subscriptions, cancelMembership cancelled only the
    # newest and the other kept renewing. The claim stops two direct starts; a hosted
    # checkout's duplicate is ended by its webhook (tests/billing/test_duplicates.py), and
    # until that event is processed, cancelling must stop both.
    user = await make_user()
    await _attempt(user, "vip_monthly", 1)
    customer = (await Customer.get(user_id=user.id)).stripe_id
    second = await gateway().create_subscription(
        customer=customer, plan_id="ncm_vip_yearly_15800_cny", user_id=user.id, key="checkout-2"
    )
    async with in_transaction() as conn:  # mirrored, its webhook not processed yet
        await sync.apply_subscription(conn, user.id, second)
    assert await Subscription.filter(user_id=user.id, status="active").count() == 2

    await subscriptions.cancel_membership(user)
    remote = await stripe_subscriptions(stripe_env, customer)
    assert len(remote) == 2
    assert all(s["cancel_at_period_end"] for s in remote)
    assert all(s.cancel_at_period_end for s in await Subscription.filter(user_id=user.id))
