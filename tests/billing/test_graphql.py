"""The viewer's membership and the membership mutations over GraphQL."""

from __future__ import annotations

from typing import Any

from ncm.billing import ledger
from ncm.schema.base import to_global_id
from tests.conftest import login_token, make_user

MEMBERSHIP = """{ viewer { membership { active tier activeUntil source autoRenew status planCode
  cancelAtPeriodEnd periods { source amount currency revoked startsAt endsAt } } } }"""
START = """mutation($input: StartMembershipInput!) { startMembership(input: $input) {
  __typename ... on StartMembershipPayload { checkoutUrl membership { active autoRenew planCode } }
  ... on Error { code message field }
  ... on PaymentDeclinedError { declineCode } } }"""
SIMPLE = """mutation { %s { __typename ... on MembershipPayload { membership { autoRenew
  cancelAtPeriodEnd planCode } } ... on Error { code } } }"""


async def test_plans_and_a_non_member(gql: Any, vip_plans: Any) -> None:
    body = await gql("{ membershipPlans { id code amount currency interval } }")
    assert [
        (p["code"], p["amount"], p["currency"], p["interval"])
        for p in body["data"]["membershipPlans"]
    ] == [("vip_monthly", 1500, "CNY", "MONTH"), ("vip_yearly", 15800, "CNY", "YEAR")]
    user = await make_user()
    body = await gql(MEMBERSHIP, token=await login_token(user))
    m = body["data"]["viewer"]["membership"]
    assert (m["active"], m["autoRenew"], m["periods"], m["status"]) == (False, False, [], None)


async def test_direct_start_cancel_resume_change(gql: Any, vip_plans: Any) -> None:
    user = await make_user()
    token = await login_token(user)
    monthly, yearly = (to_global_id("MembershipPlan", p.id) for p in vip_plans)
    body = await gql(
        START,
        {"input": {"planId": monthly, "mode": "DIRECT", "paymentMethodId": "pm_card_visa"}},
        token=token,
    )
    result = body["data"]["startMembership"]
    assert result["__typename"] == "StartMembershipPayload", result
    assert result["membership"] == {"active": True, "autoRenew": True, "planCode": "vip_monthly"}
    m = (await gql(MEMBERSHIP, token=token))["data"]["viewer"]["membership"]
    assert (m["active"], m["source"], m["tier"], m["status"]) == (True, "PAID", "VIP", "active")
    assert [(p["source"], p["amount"], p["currency"]) for p in m["periods"]] == [
        ("PAID", 1500, "CNY")
    ]

    again = await gql(
        START,
        {"input": {"planId": monthly, "mode": "DIRECT", "paymentMethodId": "pm_card_visa"}},
        token=token,
    )
    assert again["data"]["startMembership"]["code"] == "ALREADY_SUBSCRIBED"

    cancel = (await gql(SIMPLE % "cancelMembership", token=token))["data"]["cancelMembership"]
    assert cancel["membership"] == {
        "autoRenew": False,
        "cancelAtPeriodEnd": True,
        "planCode": "vip_monthly",
    }
    resume = (await gql(SIMPLE % "resumeMembership", token=token))["data"]["resumeMembership"]
    assert resume["membership"]["autoRenew"] is True
    change = await gql(SIMPLE % f'changePlan(planId: "{yearly}")', token=token)
    assert change["data"]["changePlan"]["membership"]["planCode"] == "vip_yearly"


async def test_declined_card_and_bad_input_are_typed(gql: Any, vip_plans: Any) -> None:
    token = await login_token(await make_user())
    monthly = to_global_id("MembershipPlan", vip_plans[0].id)
    declined = (
        await gql(
            START,
            {
                "input": {
                    "planId": monthly,
                    "mode": "DIRECT",
                    "paymentMethodId": "pm_card_visa_chargeDeclined",
                }
            },
            token=token,
        )
    )["data"]["startMembership"]
    assert (declined["__typename"], declined["code"]) == (
        "PaymentDeclinedError",
        "PAYMENT_DECLINED",
    )
    no_pm = await gql(START, {"input": {"planId": monthly, "mode": "DIRECT"}}, token=token)
    assert no_pm["data"]["startMembership"]["field"] == "paymentMethodId"
    bad_url = (
        await gql(START, {"input": {"planId": monthly, "successUrl": "javascript:x"}}, token=token)
    )["data"]["startMembership"]
    assert (bad_url["__typename"], bad_url["field"]) == ("InvalidInputError", "successUrl")
    nothing = (await gql(SIMPLE % "cancelMembership", token=token))["data"]["cancelMembership"]
    assert nothing == {"__typename": "NotFoundError", "code": "NO_SUBSCRIPTION"}


async def test_checkout_needs_what_localstripe_lacks_and_says_so(gql: Any, vip_plans: Any) -> None:
    """localstripe has no Checkout (it answers 404 with a non-JSON body): a typed error."""
    token = await login_token(await make_user())
    monthly = to_global_id("MembershipPlan", vip_plans[0].id)
    body = await gql(
        START, {"input": {"planId": monthly, "successUrl": "https://music.example/ok"}}, token=token
    )
    assert body["data"]["startMembership"]["__typename"] in {
        "PaymentProviderError",
        "PaymentProviderUnavailableError",
    }


async def test_anonymous_start_is_unauthenticated(gql: Any, vip_plans: Any) -> None:
    monthly = to_global_id("MembershipPlan", vip_plans[0].id)
    body = await gql(START, {"input": {"planId": monthly}}, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_grant_shows_in_membership(gql: Any) -> None:
    user = await make_user()
    await ledger.grant(user.id, 7, "support")
    m = (await gql(MEMBERSHIP, token=await login_token(user)))["data"]["viewer"]["membership"]
    assert (m["active"], m["source"], m["autoRenew"]) == (True, "ADMIN_GRANT", False)


async def test_checkout_and_portal_urls_come_from_stripe(
    gql: Any, vip_plans: Any, monkeypatch: Any
) -> None:
    """Stripe-shaped answers for what localstripe lacks: the session and portal URLs."""
    from ncm.billing.stripe import StripeGateway

    calls: list[dict[str, Any]] = []

    async def checkout(self: Any, **kw: Any) -> dict[str, Any]:
        calls.append(kw)
        return {"id": "cs_test_1", "url": "https://checkout.stripe.com/c/pay/cs_test_1"}

    async def portal(self: Any, **kw: Any) -> dict[str, Any]:
        calls.append(kw)
        return {"id": "bps_1", "url": "https://billing.stripe.com/p/session/bps_1"}

    monkeypatch.setattr(StripeGateway, "create_checkout_session", checkout)
    monkeypatch.setattr(StripeGateway, "create_portal_session", portal)
    user = await make_user()
    token = await login_token(user)
    monthly = to_global_id("MembershipPlan", vip_plans[0].id)
    variables = {
        "input": {
            "planId": monthly,
            "successUrl": "https://music.example/ok",
            "idempotencyKey": "client-key-123",
        }
    }
    result = (await gql(START, variables, token=token))["data"]["startMembership"]
    assert result["checkoutUrl"] == "https://checkout.stripe.com/c/pay/cs_test_1"
    assert result["membership"]["active"] is False  # until the webhooks arrive
    assert calls[0]["key"] == f"checkout:{user.id}:client-key-123"
    assert calls[0]["plan_id"] == "ncm_vip_monthly_1500_cny" and calls[0]["user_id"] == user.id
    body = await gql(
        'mutation { billingPortalUrl(returnUrl: "https://music.example/account") {'
        " __typename ... on BillingPortalPayload { url } } }",
        token=token,
    )
    assert body["data"]["billingPortalUrl"]["url"].startswith("https://billing.stripe.com/")
