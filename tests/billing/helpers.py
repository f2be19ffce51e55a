"""Stripe-shaped events signed exactly as Stripe signs them, localstripe's recorded events
delivered at once, and running the jobs they enqueued (no polling)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

WEBHOOK_SECRET = "whsec_test_ncm_billing_secret"


def sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """``Stripe-Signature``: ``t=<unix>,v1=<hex HMAC-SHA256 of "{t}.{payload}">``."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def event(
    type_: str, obj: dict[str, Any], *, event_id: str | None = None, created: int | None = None
) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": created or int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": type_,
        "data": {"object": obj},
    }


async def post_event(http: Any, evt: dict[str, Any], **sign_kwargs: Any) -> Any:
    payload = json.dumps(evt)
    return await http.post(
        "/webhooks/stripe",
        content=payload,
        headers={
            "stripe-signature": sign(payload, **sign_kwargs),
            "content-type": "application/json",
        },
    )


def invoice(
    inv_id: str,
    *,
    customer: str,
    subscription: str,
    start: int,
    end: int,
    amount: int = 1500,
    currency: str = "cny",
    reason: str = "subscription_cycle",
    payment_intent: str | None = None,
    status: str = "paid",
    discount: int = 0,
    tax: int = 0,
) -> dict[str, Any]:
    return {
        "id": inv_id,
        "object": "invoice",
        "customer": customer,
        "subscription": subscription,
        "status": status,
        "billing_reason": reason,
        "amount_paid": amount if status == "paid" else 0,
        "amount_due": amount,
        "currency": currency,
        "tax": tax,
        "total_discount_amounts": [{"amount": discount, "discount": "di_1"}] if discount else [],
        "payment_intent": payment_intent or f"pi_{inv_id}",
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": f"il_{inv_id}",
                    "amount": amount,
                    "proration": False,
                    "period": {"start": start, "end": end},
                }
            ],
        },
    }


def charge(
    charge_id: str,
    *,
    customer: str,
    payment_intent: str,
    amount: int,
    refunded_amount: int,
    created: int,
) -> dict[str, Any]:
    return {
        "id": charge_id,
        "object": "charge",
        "customer": customer,
        "payment_intent": payment_intent,
        "amount": amount,
        "amount_refunded": refunded_amount,
        "currency": "cny",
        "refunded": refunded_amount >= amount,
        "created": created,
        "refunds": {
            "data": [
                {
                    "id": f"re_{charge_id}_{refunded_amount}",
                    "amount": refunded_amount,
                    "created": created + 60,
                }
            ]
        },
    }


async def process_pending() -> None:
    """Run what the webhooks enqueued: in-process jobs drain; with Redis, a burst worker."""
    from ncm.kit import jobs
    from ncm.kit.redis import get_redis

    await jobs.drain()
    redis = await get_redis()
    if redis is None:
        return
    from arq.worker import Worker

    from ncm.worker import WorkerSettings

    worker = Worker(
        functions=WorkerSettings.functions,
        redis_pool=redis,
        burst=True,
        handle_signals=False,
        poll_delay=0.01,
        max_jobs=8,
    )
    await worker.main()


async def localstripe_events(stripe_url: str) -> list[dict[str, Any]]:
    """Every event localstripe recorded, oldest first (what it would deliver ~1 s later)."""
    import httpx

    events: list[dict[str, Any]] = []
    after: str | None = None
    async with httpx.AsyncClient(auth=("sk_test_ncm", "")) as client:
        while True:
            params: dict[str, Any] = {"limit": 100}
            if after:
                params["starting_after"] = after
            page = (await client.get(f"{stripe_url}/v1/events", params=params)).json()
            events += page["data"]
            if not page.get("has_more") or not page["data"]:
                return events
            after = page["data"][-1]["id"]


async def deliver_localstripe_events(http: Any, stripe_url: str) -> list[str]:
    """Deliver localstripe's recorded events to the app now, signed as Stripe signs them,
    then run their jobs: deterministic, where waiting for its own delivery is not."""
    delivered = []
    for evt in await localstripe_events(stripe_url):
        response = await post_event(http, evt)
        assert response.status_code == 200, response.text
        delivered.append(evt["type"])
    await process_pending()
    return delivered


async def card(stripe_url: str, number: str) -> str:
    """A localstripe card payment method (e.g. 4000002500003155: needs 3-D Secure)."""
    import httpx

    async with httpx.AsyncClient(auth=("sk_test_ncm", "")) as client:
        response = await client.post(
            f"{stripe_url}/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": number,
                "card[exp_month]": "12",
                "card[exp_year]": "2030",
                "card[cvc]": "123",
            },
        )
    response.raise_for_status()
    return str(response.json()["id"])


async def stripe_subscriptions(stripe_url: str, customer: str) -> list[dict[str, Any]]:
    import httpx

    async with httpx.AsyncClient(auth=("sk_test_ncm", "")) as client:
        response = await client.get(
            f"{stripe_url}/v1/subscriptions",
            params={"customer": customer, "status": "all", "limit": 100},
        )
    response.raise_for_status()
    return list(response.json()["data"])
