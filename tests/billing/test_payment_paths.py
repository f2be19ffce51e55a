"""Every payment path a real app meets: a second card right after a decline, 3-D Secure
(localstripe emulates it: card 4000002500003155, ``/_authenticate``), and the newer Stripe
invoice shape at the wrapper boundary."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ncm.billing import subscriptions
from ncm.billing.entitlement import entitlement
from ncm.billing.errors import PaymentActionRequired, PaymentDeclined
from ncm.billing.models import Customer, MembershipPeriod, Subscription
from ncm.billing.subscriptions import StartMode
from ncm.schema.base import to_global_id
from tests.billing.helpers import card, deliver_localstripe_events, stripe_subscriptions
from tests.conftest import login_token, make_user

THREE_D_SECURE = "4000002500003155"


async def test_a_second_card_right_after_a_decline_works(
    vip_plans: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    keys: list[tuple[str, str | None]] = []
    original = httpx.AsyncClient.send

    async def spy(self: httpx.AsyncClient, request: httpx.Request, **kw: Any) -> httpx.Response:
        if request.method == "POST":
            keys.append((request.url.path, request.headers.get("idempotency-key")))
        return await original(self, request, **kw)

    monkeypatch.setattr(httpx.AsyncClient, "send", spy)
    user = await make_user()
    for declined in ("pm_card_visa_chargeDeclined", "pm_card_chargeCustomerFail"):
        with pytest.raises(PaymentDeclined):  # declined at attach / at the first charge
            await subscriptions.start_membership(
                user,
                "vip_monthly",
                mode=StartMode.DIRECT,
                payment_method_id=declined,
                idempotency_key="checkout-screen-1",  # the app keeps its key on the screen
            )
    result = await subscriptions.start_membership(
        user,
        "vip_monthly",
        mode=StartMode.DIRECT,
        payment_method_id="pm_card_visa",
        idempotency_key="checkout-screen-1",
    )
    assert result.subscription is not None and result.subscription.status == "active"
    assert (await entitlement(user.id)).active
    attach = [k for path, k in keys if path.endswith("/attach")]
    assert attach == [
        f"attach:{user.id}:checkout-screen-1:pm_card_visa_chargeDeclined",
        f"attach:{user.id}:checkout-screen-1:pm_card_chargeCustomerFail",
        f"attach:{user.id}:checkout-screen-1:pm_card_visa",
    ]
    subscribe = [k for path, k in keys if path == "/v1/subscriptions"]
    assert len(subscribe) == len(set(subscribe)) == 2  # the first card never got that far


async def test_three_d_secure_is_action_required_then_the_webhook_finishes_it(
    http: Any, vip_plans: list[Any], stripe_env: str
) -> None:
    user = await make_user()
    pm = await card(stripe_env, THREE_D_SECURE)
    with pytest.raises(PaymentActionRequired) as needed:
        await subscriptions.start_membership(
            user, "vip_monthly", mode=StartMode.DIRECT, payment_method_id=pm
        )
    action = needed.value
    assert action.payment_intent_id and action.client_secret.startswith(
        f"{action.payment_intent_id}_secret_"
    )
    sub = await Subscription.get(user_id=user.id)
    assert (sub.status, sub.stripe_id) == ("incomplete", action.subscription_id)
    assert not (await entitlement(user.id)).active
    assert not await MembershipPeriod.exists()

    # The app completes 3-D Secure with the client secret (Stripe.js does this).
    async with httpx.AsyncClient() as client:
        done = await client.post(
            f"{stripe_env}/v1/payment_intents/{action.payment_intent_id}/_authenticate",
            data={"client_secret": action.client_secret, "success": "true"},
            auth=("sk_test_ncm", ""),
        )
    assert done.status_code == 200, done.text
    delivered = await deliver_localstripe_events(http, stripe_env)
    assert {"invoice.payment_succeeded", "payment_intent.succeeded"} <= set(delivered)
    e = await entitlement(user.id)
    assert e.active and e.source == "PAID"
    await sub.refresh_from_db()
    assert sub.status == "active"
    paid = await MembershipPeriod.filter(user_id=user.id, source="PAID")
    assert [(p.amount, p.currency) for p in paid] == [(1500, "CNY")]


async def test_abandoned_three_d_secure_then_another_card_keeps_one_subscription(
    vip_plans: list[Any], stripe_env: str
) -> None:
    user = await make_user()
    pm = await card(stripe_env, THREE_D_SECURE)
    with pytest.raises(PaymentActionRequired):
        await subscriptions.start_membership(
            user, "vip_monthly", mode=StartMode.DIRECT, payment_method_id=pm
        )
    result = await subscriptions.start_membership(
        user, "vip_monthly", mode=StartMode.DIRECT, payment_method_id="pm_card_visa"
    )
    assert result.subscription is not None and result.subscription.status == "active"
    customer = (await Customer.get(user_id=user.id)).stripe_id
    remote = {s["id"]: s["status"] for s in await stripe_subscriptions(stripe_env, customer)}
    assert sorted(remote.values()) == ["active", "canceled"]  # the incomplete one ended
    assert await subscriptions.live_subscription(user.id) == result.subscription


async def test_three_d_secure_over_graphql_is_a_typed_error(
    gql: Any, vip_plans: list[Any], stripe_env: str
) -> None:
    token = await login_token(await make_user())
    pm = await card(stripe_env, THREE_D_SECURE)
    body = await gql(
        """mutation($input: StartMembershipInput!) { startMembership(input: $input) {
          __typename ... on Error { code field }
          ... on PaymentActionRequiredError { clientSecret paymentIntentId subscriptionId } } }""",
        {
            "input": {
                "planId": to_global_id("MembershipPlan", vip_plans[0].id),
                "mode": "DIRECT",
                "paymentMethodId": pm,
            }
        },
        token=token,
    )
    result = body["data"]["startMembership"]
    assert (result["__typename"], result["code"]) == (
        "PaymentActionRequiredError",
        "PAYMENT_ACTION_REQUIRED",
    )
    assert result["clientSecret"].startswith(result["paymentIntentId"] + "_secret_")
    assert result["subscriptionId"].startswith("sub_")


async def test_newer_invoice_shape_is_read_at_the_wrapper_boundary(
    vip_plans: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """API versions from 2025-03 on: no ``invoice.payment_intent``; the payment intent is in
    ``payments`` and the secret in ``confirmation_secret``. A fake gateway answers that."""
    from ncm.billing.stripe import StripeGateway

    sub = {
        "id": "sub_new",
        "object": "subscription",
        "customer": "cus_new",
        "status": "incomplete",
        "items": {"data": [{"id": "si_1", "plan": {"id": "ncm_vip_monthly_1500_cny"}}]},
        "latest_invoice": {
            "id": "in_new",
            "status": "open",
            "payments": {
                "data": [{"payment": {"type": "payment_intent", "payment_intent": "pi_new"}}]
            },
            "confirmation_secret": {"client_secret": "pi_new_secret_abc", "type": "payment_intent"},
        },
    }

    async def fake_customer(self: Any, **kw: Any) -> dict[str, Any]:
        return {"id": "cus_new"}

    async def fake_attach(self: Any, *args: Any) -> dict[str, Any]:
        return {"id": "pm_x"}

    async def fake_list(self: Any, **kw: Any) -> Any:
        return
        yield

    async def fake_create(self: Any, **kw: Any) -> dict[str, Any]:
        return sub

    async def fake_pi(self: Any, pi: str) -> dict[str, Any]:
        assert pi == "pi_new"
        return {"id": pi, "status": "requires_action", "client_secret": "pi_new_secret_abc"}

    monkeypatch.setattr(StripeGateway, "create_customer", fake_customer)
    monkeypatch.setattr(StripeGateway, "attach_payment_method", fake_attach)
    monkeypatch.setattr(StripeGateway, "list_subscriptions", fake_list)
    monkeypatch.setattr(StripeGateway, "create_subscription", fake_create)
    monkeypatch.setattr(StripeGateway, "retrieve_payment_intent", fake_pi)
    user = await make_user()
    with pytest.raises(PaymentActionRequired) as needed:
        await subscriptions.start_membership(
            user, "vip_monthly", mode=StartMode.DIRECT, payment_method_id="pm_x"
        )
    assert (needed.value.client_secret, needed.value.payment_intent_id) == (
        "pi_new_secret_abc",
        "pi_new",
    )
    assert (await Subscription.get(user_id=user.id)).status == "incomplete"


async def test_the_same_request_again_during_three_d_secure_gets_the_same_answer(
    vip_plans: list[Any], stripe_env: str
) -> None:
    user = await make_user()
    pm = await card(stripe_env, THREE_D_SECURE)
    answers = []
    for _ in range(2):
        with pytest.raises(PaymentActionRequired) as needed:
            await subscriptions.start_membership(
                user,
                "vip_monthly",
                mode=StartMode.DIRECT,
                payment_method_id=pm,
                idempotency_key="pay-screen-42",
            )
        answers.append((needed.value.subscription_id, needed.value.client_secret))
    assert answers[0] == answers[1]
    customer = (await Customer.get(user_id=user.id)).stripe_id
    assert [s["status"] for s in await stripe_subscriptions(stripe_env, customer)] == ["incomplete"]
