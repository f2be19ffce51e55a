"""Plans, subscribing, cancelling and changing plans: the real Stripe SDK over HTTP against
localstripe, with the events localstripe recorded delivered to the app, signed, at once
(no waiting for its own delivery a second later)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ncm.billing import plans, subscriptions
from ncm.billing.entitlement import entitlement
from ncm.billing.errors import PaymentDeclined, PaymentProviderUnavailable
from ncm.billing.models import Customer, EventStatus, MembershipPeriod, StripeEvent, Subscription
from ncm.billing.subscriptions import StartMode
from ncm.errors import Conflict
from tests.billing.helpers import deliver_localstripe_events
from tests.conftest import make_user


async def test_plans_sync_creates_then_reports_unchanged(stripe_env: str) -> None:
    await plans.ensure_default_plans()
    first = await plans.sync()
    assert {(c.plan, c.action) for c in first} >= {
        ("vip_monthly", "created"),
        ("vip_yearly", "created"),
        ("vip_monthly", "product-created"),
    }
    second = await plans.sync()
    assert {c.action for c in second} == {"unchanged"}
    async with httpx.AsyncClient(auth=("sk_test_ncm", "")) as client:
        remote = (await client.get(f"{stripe_env}/v1/plans/ncm_vip_monthly_1500_cny")).json()
    assert (remote["amount"], remote["currency"], remote["interval"]) == (1500, "cny", "month")


async def test_repricing_a_plan_creates_a_new_stripe_plan(vip_plans: list[Any]) -> None:
    from ncm.billing.models import Interval

    await plans.set_plan(
        "vip_monthly", name="VIP monthly", interval=Interval.MONTH, amount=1800, currency="cny"
    )
    changes = await plans.sync()
    assert ("vip_monthly", "repriced", "ncm_vip_monthly_1800_cny") in {
        (c.plan, c.action, c.stripe_plan_id) for c in changes
    }
    plan = await plans.get_plan("vip_monthly")
    assert plan.stripe_plan_id == "ncm_vip_monthly_1800_cny" and plan.currency == "CNY"


async def test_direct_subscription_makes_a_member_and_webhooks_agree(
    http: Any, vip_plans: list[Any], stripe_env: str
) -> None:
    user = await make_user()
    result = await subscriptions.start_membership(
        user, "vip_monthly", mode=StartMode.DIRECT, payment_method_id="pm_card_visa"
    )
    assert result.subscription is not None and result.subscription.status == "active"
    e = await entitlement(user.id)
    assert e.active and e.source == "PAID" and e.tier == "VIP"
    period = await MembershipPeriod.get(user_id=user.id, source="PAID")
    assert (period.amount, period.currency, period.refunded) == (1500, "CNY", 0)
    assert e.active_until == period.ends_at == result.subscription.current_period_end

    delivered = await deliver_localstripe_events(http, stripe_env)
    assert {"customer.subscription.created", "invoice.payment_succeeded"} <= set(delivered)
    done = await StripeEvent.filter(status=EventStatus.PROCESSED).values_list("type", flat=True)
    assert {"customer.subscription.created", "invoice.payment_succeeded"} <= set(done)
    assert not await StripeEvent.filter(status__in=[EventStatus.FAILED, EventStatus.WAITING])
    assert await MembershipPeriod.filter(user_id=user.id).count() == 1  # no double period
    assert await Subscription.filter(user_id=user.id).count() == 1

    with pytest.raises(Conflict):
        await subscriptions.start_membership(
            user, "vip_monthly", mode=StartMode.DIRECT, payment_method_id="pm_card_visa"
        )

    sub = await subscriptions.cancel_membership(user)
    assert sub.cancel_at_period_end and sub.status == "active"
    assert (await entitlement(user.id)).active  # runs to the end of the paid period
    sub = await subscriptions.resume_membership(user)
    assert not sub.cancel_at_period_end
    sub = await subscriptions.change_plan(user, "vip_yearly")
    assert sub.stripe_plan_id == "ncm_vip_yearly_15800_cny"


async def test_every_stripe_write_carries_a_stable_idempotency_key(
    vip_plans: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[str, str, str | None]] = []
    original = httpx.AsyncClient.send

    async def spy(self: httpx.AsyncClient, request: httpx.Request, **kw: Any) -> httpx.Response:
        sent.append((request.method, request.url.path, request.headers.get("idempotency-key")))
        return await original(self, request, **kw)

    monkeypatch.setattr(httpx.AsyncClient, "send", spy)
    user = await make_user()
    first = await subscriptions.ensure_customer(user)
    await Customer.filter(id=first.id).delete()  # as if the local write had been lost
    await subscriptions.ensure_customer(user)  # the retry sends the same key
    await subscriptions.start_membership(
        user, "vip_monthly", mode=StartMode.DIRECT, payment_method_id="pm_card_visa"
    )
    posts = [(path, key) for method, path, key in sent if method == "POST"]
    assert all(key for _, key in posts), posts
    customer_keys = [key for path, key in posts if path == "/v1/customers"]
    assert customer_keys == [f"customer:{user.id}", f"customer:{user.id}"]
    assert [key for path, key in posts if path == "/v1/subscriptions"] == [
        f"subscribe:{user.id}:{vip_plans[0].id}:0:pm_card_visa"
    ]
    assert [key for path, key in posts if path.endswith("/attach")] == [
        f"attach:{user.id}:{vip_plans[0].id}:0:pm_card_visa"
    ]


async def test_declined_card_is_a_typed_error_and_no_membership(vip_plans: list[Any]) -> None:
    user = await make_user()
    with pytest.raises(PaymentDeclined):
        await subscriptions.start_membership(
            user,
            "vip_monthly",
            mode=StartMode.DIRECT,
            payment_method_id="pm_card_visa_chargeDeclined",
        )
    assert not (await entitlement(user.id)).active
    with pytest.raises(PaymentDeclined):  # the card is accepted, the first charge fails
        await subscriptions.start_membership(
            user,
            "vip_monthly",
            mode=StartMode.DIRECT,
            payment_method_id="pm_card_chargeCustomerFail",
        )
    assert not (await entitlement(user.id)).active
    subs = await Subscription.filter(user_id=user.id)
    assert [s.status for s in subs] == ["canceled"]  # not left incomplete
    assert await subscriptions.live_subscription(user.id) is None


async def test_stripe_unreachable_is_typed_and_writes_nothing(
    vip_plans: list[Any], request: pytest.FixtureRequest
) -> None:
    user = await make_user()
    request.getfixturevalue("stripe_down")
    with pytest.raises(PaymentProviderUnavailable):
        await subscriptions.start_membership(
            user, "vip_monthly", mode=StartMode.DIRECT, payment_method_id="pm_card_visa"
        )
    assert not await Customer.exists()
    assert not await Subscription.exists()
    assert not await MembershipPeriod.exists()


async def test_repricing_keeps_old_subscribers_on_their_plan(
    gql: Any, vip_plans: list[Any]
) -> None:
    """A plan has price versions: after `plans set --amount` + `sync`, a subscriber on the
    old price is still on the plan (planCode, tier), and a new subscriber pays the new one."""
    from ncm.billing.models import Interval, PlanPrice
    from tests.conftest import login_token

    old = await make_user("old")
    await subscriptions.start_membership(
        old, "vip_monthly", mode=StartMode.DIRECT, payment_method_id="pm_card_visa"
    )
    await plans.set_plan(
        "vip_monthly", name="VIP monthly", interval=Interval.MONTH, amount=1800, currency="CNY"
    )
    await plans.sync()
    monthly = await plans.get_plan("vip_monthly")
    prices = await PlanPrice.filter(plan_id=monthly.id).order_by("id")
    assert [(p.stripe_plan_id, p.amount) for p in prices] == [
        ("ncm_vip_monthly_1500_cny", 1500),
        ("ncm_vip_monthly_1800_cny", 1800),
    ]
    query = "{ viewer { membership { active planCode status tier } } }"
    body = await gql(query, token=await login_token(old))
    assert body["data"]["viewer"]["membership"] == {
        "active": True,
        "planCode": "vip_monthly",
        "status": "active",
        "tier": "VIP",
    }
    assert (await plans.plan_for_stripe_id("ncm_vip_monthly_1500_cny")) == monthly
    new = await make_user("new")
    await subscriptions.start_membership(
        new, "vip_monthly", mode=StartMode.DIRECT, payment_method_id="pm_card_visa"
    )
    period = await MembershipPeriod.get(user_id=new.id, source="PAID")
    assert period.amount == 1800
    body = await gql(query, token=await login_token(new))
    assert body["data"]["viewer"]["membership"]["planCode"] == "vip_monthly"
