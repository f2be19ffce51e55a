"""Starting, cancelling, resuming and changing a membership (the viewer's own).

Every Stripe write carries an idempotency key derived from the request (or the client's own
key), so a retried request returns Stripe's first answer instead of a second customer or
subscription. Local rows are written only after Stripe answered, in one transaction, from
what Stripe returned; if Stripe is unreachable nothing local changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlparse

from tortoise.transactions import in_transaction

from ncm.accounts.models import User
from ncm.accounts.permissions import require_viewer
from ncm.billing import ledger, plans, sync
from ncm.billing.errors import PaymentDeclined
from ncm.billing.models import Customer, Plan, Subscription
from ncm.billing.stripe import Obj, gateway
from ncm.errors import Conflict, InvalidInput, NotFound

LIVE = {"active", "trialing", "past_due", "unpaid"}


class StartMode(StrEnum):
    CHECKOUT = "CHECKOUT"  # a Stripe-hosted payment page
    DIRECT = "DIRECT"  # the app collected a payment method (Stripe.js / mobile SDK)


@dataclass(frozen=True)
class StartResult:
    mode: StartMode
    checkout_url: str | None = None
    subscription: Subscription | None = None


def _check_url(url: str | None, field: str) -> str:
    if not url:
        raise InvalidInput("A return URL is needed for the hosted page.", field=field)
    parsed = urlparse(url)
    if len(url) > 2000 or parsed.scheme not in {"https", "http", "ncm"} or not parsed.netloc:
        raise InvalidInput("Use an absolute https:// (or ncm://) URL.", field=field)
    return url


async def ensure_customer(user: User) -> Customer:
    """The user's Stripe customer, created on first use (one per user, even on retries)."""
    found = await Customer.get_or_none(user_id=user.id)
    if found is not None:
        return found
    obj = await gateway().create_customer(
        user_id=user.id, email=user.email, name=user.display_name, key=f"customer:{user.id}"
    )
    customer, _ = await Customer.get_or_create(user_id=user.id, defaults={"stripe_id": obj["id"]})
    return customer


async def _available_plan(plan_id: str | int) -> Plan:
    plan = await plans.get_plan(plan_id)
    if not plan.active or not plan.stripe_plan_id:
        raise InvalidInput("This plan is not on sale.", field="planId", code="PLAN_UNAVAILABLE")
    return plan


async def live_subscription(user_id: int) -> Subscription | None:
    return await Subscription.filter(user_id=user_id, status__in=list(LIVE)).order_by("-id").first()


async def start_membership(
    actor: User | None,
    plan_id: str | int,
    *,
    mode: StartMode = StartMode.CHECKOUT,
    payment_method_id: str | None = None,
    success_url: str | None = None,
    cancel_url: str | None = None,
    idempotency_key: str | None = None,
) -> StartResult:
    """Checkout: the URL of Stripe's hosted page (the webhook records the result). Direct:
    attach the payment method and subscribe now (``PaymentDeclined`` if the card fails)."""
    user = require_viewer(actor)
    plan = await _available_plan(plan_id)
    if await live_subscription(user.id):
        raise Conflict(
            "You already have a membership; change its plan instead.", code="ALREADY_SUBSCRIBED"
        )
    if idempotency_key is not None and not 8 <= len(idempotency_key) <= 100:
        raise InvalidInput("Use 8-100 characters.", field="idempotencyKey")
    attempt = idempotency_key or f"{plan.id}:{await Subscription.filter(user_id=user.id).count()}"
    base = f"{user.id}:{attempt}"
    stripe = gateway()
    if mode == StartMode.CHECKOUT:
        success = _check_url(success_url, "successUrl")
        cancel = _check_url(cancel_url or success_url, "cancelUrl")
        customer = await ensure_customer(user)
        session = await stripe.create_checkout_session(
            customer=customer.stripe_id,
            plan_id=str(plan.stripe_plan_id),
            user_id=user.id,
            success_url=success,
            cancel_url=cancel,
            key=f"checkout:{base}",
        )
        return StartResult(mode, checkout_url=session["url"])
    if not payment_method_id or not payment_method_id.startswith("pm_"):
        raise InvalidInput(
            "A Stripe payment method id (pm_...) is needed.", field="paymentMethodId"
        )
    customer = await ensure_customer(user)
    await stripe.attach_payment_method(customer.stripe_id, payment_method_id, f"attach:{base}")
    obj = await stripe.create_subscription(
        customer=customer.stripe_id,
        plan_id=str(plan.stripe_plan_id),
        user_id=user.id,
        key=f"subscribe:{base}",
    )
    if obj.get("status") in {"incomplete", "incomplete_expired"}:
        # The first payment failed: end it now rather than leave it dangling for 23 hours.
        ended = await stripe.cancel_subscription(obj["id"], f"cancel-incomplete:{obj['id']}")
        await _save(user.id, ended, None)
        raise PaymentDeclined("Your card was declined.", decline_code="card_declined")
    sub = await _save(user.id, obj, obj.get("latest_invoice"))
    return StartResult(mode, subscription=sub)


async def _save(user_id: int, sub: Obj, invoice: object) -> Subscription:
    async with in_transaction() as conn:
        await ledger.lock_user(conn, user_id)
        row = await sync.apply_subscription(conn, user_id, sub)
        if isinstance(invoice, dict) and invoice.get("status") == "paid":
            await sync.apply_invoice_paid(conn, user_id, invoice)
    return row


async def _own_live(user: User) -> Subscription:
    sub = await live_subscription(user.id)
    if sub is None:
        raise NotFound("You have no membership subscription.", code="NO_SUBSCRIPTION")
    return sub


def _version(sub: Subscription) -> int:
    return int(sub.updated_at.timestamp() * 1000)


async def cancel_membership(actor: User | None) -> Subscription:
    """Stop renewing: the membership runs to the end of the paid period."""
    user = require_viewer(actor)
    sub = await _own_live(user)
    if sub.cancel_at_period_end:
        return sub
    obj = await gateway().update_subscription(
        sub.stripe_id, {"cancel_at_period_end": True}, f"cancel:{sub.stripe_id}:{_version(sub)}"
    )
    return await _save(user.id, obj, None)


async def resume_membership(actor: User | None) -> Subscription:
    """Undo a cancellation before the period ends."""
    user = require_viewer(actor)
    sub = await _own_live(user)
    if not sub.cancel_at_period_end:
        return sub
    obj = await gateway().update_subscription(
        sub.stripe_id, {"cancel_at_period_end": False}, f"resume:{sub.stripe_id}:{_version(sub)}"
    )
    return await _save(user.id, obj, None)


async def change_plan(actor: User | None, plan_id: str | int) -> Subscription:
    """Switch to another plan now; Stripe prorates (its default behaviour)."""
    user = require_viewer(actor)
    sub = await _own_live(user)
    plan = await _available_plan(plan_id)
    if sub.stripe_plan_id == plan.stripe_plan_id:
        raise Conflict("You are already on this plan.", field="planId", code="SAME_PLAN")
    stripe = gateway()
    fresh = await stripe.retrieve_subscription(sub.stripe_id)
    item = sync.subscription_item(fresh or {})
    if not fresh or not item.get("id"):
        raise NotFound("Stripe has no such subscription.", code="NO_SUBSCRIPTION")
    obj = await stripe.update_subscription(
        sub.stripe_id,
        {"items": [{"id": item["id"], "plan": plan.stripe_plan_id}]},
        f"change:{sub.stripe_id}:{plan.stripe_plan_id}:{_version(sub)}",
    )
    return await _save(user.id, obj, None)


async def billing_portal_url(actor: User | None, return_url: str) -> str:
    """A Stripe billing portal session (cards, invoices) for the viewer."""
    user = require_viewer(actor)
    customer = await Customer.get_or_none(user_id=user.id)
    if customer is None:
        raise NotFound("You have no billing account yet.", code="NO_CUSTOMER")
    session = await gateway().create_portal_session(
        customer=customer.stripe_id, return_url=_check_url(return_url, "returnUrl")
    )
    return str(session["url"])
