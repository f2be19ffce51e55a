"""The wrapper's ``move_next_charge`` (compensation gifts) against localstripe: the next
charge moves to ``trial_end``; a subscription whose period end changed is left alone."""

from __future__ import annotations

from typing import Any

import httpx

from ncm.billing import plans
from ncm.billing import stripe as stripe_wrapper

DAY = 86400


async def subscription(stripe_url: str, plan_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stripe_url, auth=("sk_test_ncm", "")) as http:
        customer = await http.post(
            "/v1/customers",
            data={
                "payment_method": "pm_card_visa",
                "invoice_settings[default_payment_method]": "pm_card_visa",
            },
        )
        sub = await http.post(
            "/v1/subscriptions",
            data={"customer": customer.json()["id"], "items[0][plan]": plan_id},
        )
    body: dict[str, Any] = sub.json()
    assert body["status"] == "active", body
    return body


async def test_the_next_charge_moves_and_a_changed_period_is_left_alone(
    stripe_env: str, vip_plans: list[Any]
) -> None:
    monthly = next(p for p in vip_plans if p.interval == "MONTH")
    sub = await subscription(stripe_env, plans.stripe_plan_id(monthly))
    gw = stripe_wrapper.gateway()
    assert not gw.is_stripe  # localstripe: no proration_behavior (it refuses it)
    end = int(sub["current_period_end"])
    moved = await stripe_wrapper.move_next_charge(
        gw, sub["id"], expected_period_end=end, trial_end=end + 7 * DAY, key="comp-shift:1"
    )
    assert moved is not None and moved["trial_end"] == end + 7 * DAY
    fetched = await gw.retrieve_subscription(sub["id"])
    assert fetched is not None and fetched["trial_end"] == end + 7 * DAY
    # the ledger expected another renewal: the subscription is not touched
    other = await stripe_wrapper.move_next_charge(
        gw, sub["id"], expected_period_end=end - DAY, trial_end=end + 9 * DAY, key="comp-shift:2"
    )
    assert other is None
    fetched = await gw.retrieve_subscription(sub["id"])
    assert fetched is not None and fetched["trial_end"] == end + 7 * DAY


class Recorder(stripe_wrapper.StripeGateway):
    """Stripe itself (no API base): the update's parameters, recorded instead of sent."""

    def __init__(self, period_end: int) -> None:
        super().__init__("sk_test_recorder")
        self.period_end = period_end
        self.sent: list[dict[str, Any]] = []

    async def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        return {"id": subscription_id, "status": "active", "current_period_end": self.period_end}

    async def update_subscription(
        self, subscription_id: str, params: dict[str, Any], key: str
    ) -> dict[str, Any]:
        self.sent.append(params)
        return {"id": subscription_id, **params}


async def test_stripe_itself_is_told_not_to_prorate() -> None:
    gw = Recorder(1_900_000_000)
    assert gw.is_stripe
    await stripe_wrapper.move_next_charge(
        gw, "sub_1", expected_period_end=1_900_000_000, trial_end=1_900_604_800, key="k"
    )
    assert gw.sent[0]["proration_behavior"] == "none"
    assert gw.sent[0]["trial_end"] == 1_900_604_800
