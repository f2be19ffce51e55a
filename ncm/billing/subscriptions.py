"""Starting, cancelling, resuming and changing a membership (the viewer's own).

Every Stripe write carries an idempotency key derived from the request (or the client's own
key), so a retried request returns Stripe's first answer instead of a second customer or
subscription. Local rows are written only after Stripe answered, in one transaction, from
what Stripe returned; if Stripe is unreachable nothing local changes.

A user has at most one live subscription whatever the timing: a start (or plan change)
first takes the user's claim row (``SubscriptionClaim``) in a short transaction under the
user's lock, so a second concurrent start is refused (ALREADY_SUBSCRIBED) before it reaches
Stripe, and before subscribing, the customer's subscriptions in Stripe are checked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlparse

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from ncm.accounts.models import User
from ncm.accounts.permissions import require_viewer
from ncm.billing import duplicates, ledger, plans, sync
from ncm.billing.entitlement import utcnow
from ncm.billing.errors import (
    BillingErrorCode,
    BillingNotConfigured,
    PaymentActionRequired,
    PaymentDeclined,
    PaymentProviderError,
    PaymentProviderUnavailable,
)
from ncm.billing.models import (
    LIVE,
    ClaimAction,
    ClaimState,
    Customer,
    Plan,
    Subscription,
    SubscriptionClaim,
)
from ncm.billing.stripe import Obj, gateway, payments_configured
from ncm.errors import Conflict, InvalidInput, NotFound

log = logging.getLogger("ncm.billing.subscriptions")

# A start or change whose process died mid-way frees the user after this (longer than the
# Stripe calls of one start can take with their timeouts and retries).
CLAIM_STALE = timedelta(minutes=10)


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


def already_subscribed(message: str | None = None) -> Conflict:
    return Conflict(
        message or "You already have a membership; change its plan instead.",
        code=BillingErrorCode.ALREADY_SUBSCRIBED,
    )


async def ensure_customer(user: User) -> Customer:
    """The user's Stripe customer, created on first use (one per user, even on retries)."""
    found = await Customer.get_or_none(user_id=user.id)
    if found is not None:
        return found
    obj = await gateway().create_customer(
        user_id=user.id, email=user.email, name=user.display_name, key=f"customer:{user.id}"
    )
    customer, created = await Customer.get_or_create(
        user_id=user.id, defaults={"stripe_id": obj["id"]}
    )
    if created:
        from ncm.billing import webhooks

        await webhooks.release_waiting([customer.stripe_id])
    return customer


async def _available_plan(plan_id: str | int) -> Plan:
    plan = await plans.get_plan(plan_id)
    if plan.active and not payments_configured():
        raise BillingNotConfigured()
    if not plan.active or not plan.stripe_plan_id:
        raise InvalidInput(
            "This plan is not on sale.", field="planId", code=BillingErrorCode.PLAN_UNAVAILABLE
        )
    if plan.stripe_plan_id != plans.stripe_plan_id(plan):  # repriced, not synced yet
        raise InvalidInput(
            "This plan's new price is not on sale yet; try again shortly.",
            field="planId",
            code=BillingErrorCode.PLAN_UNAVAILABLE,
        )
    return plan


async def live_subscription(
    user_id: int, conn: BaseDBAsyncClient | None = None
) -> Subscription | None:
    return await (
        Subscription.filter(user_id=user_id, status__in=list(LIVE))
        .using_db(conn)
        .order_by("-id")
        .first()
    )


# one start or plan change per user at a time ------------------------------------------


async def _take_claim(
    user_id: int, action: ClaimAction, key: str, *, reuse: bool = True
) -> Subscription | None:
    """Make this request the user's one start (or plan change) in flight, or raise
    ``Conflict``. Under the user's lock, in one transaction: the claim row is taken (a
    compare-and-set on the one row per user, or its insert, which the unique user id
    guards), then a start checks that no live subscription exists. Two concurrent starts
    therefore cannot both reach Stripe, whatever their idempotency keys or plans.

    A start retried with the key of a start that already succeeded gets that subscription
    back (``Stripe's first answer``) instead of a conflict; so does one whose subscription
    waits for 3-D Secure (``incomplete``), unless ``reuse`` is off."""
    now = utcnow()
    async with in_transaction() as conn:
        await ledger.lock_user(conn, user_id)
        claim = await SubscriptionClaim.filter(user_id=user_id).using_db(conn).first()
        if (
            reuse
            and claim is not None
            and action == ClaimAction.START
            and claim.state == ClaimState.DONE
            and claim.key == key
            and claim.subscription_ref
        ):
            done = (
                await Subscription.filter(stripe_id=claim.subscription_ref).using_db(conn).first()
            )
            if done is not None and (done.status in LIVE or done.status == "incomplete"):
                return done
        if claim is None:
            try:
                await SubscriptionClaim.create(
                    user_id=user_id,
                    action=action,
                    key=key,
                    state=ClaimState.PENDING,
                    started_at=now,
                    using_db=conn,
                )
            except IntegrityError:
                raise _busy(action) from None
        else:
            if claim.state == ClaimState.PENDING and now - claim.started_at < CLAIM_STALE:
                raise _busy(action)
            taken = (
                await SubscriptionClaim.filter(
                    id=claim.id, state=claim.state, started_at=claim.started_at
                )
                .using_db(conn)
                .update(
                    action=action,
                    key=key,
                    state=ClaimState.PENDING,
                    started_at=now,
                    finished_at=None,
                    subscription_ref=None,
                )
            )
            if taken != 1:
                raise _busy(action)
        if action == ClaimAction.START and await live_subscription(user_id, conn):
            raise already_subscribed()  # rolls the claim back
    return None


def _busy(action: ClaimAction) -> Conflict:
    if action == ClaimAction.START:
        return already_subscribed(
            "A membership is already being started for you; wait for it to finish."
        )
    return Conflict(
        "Another plan change is in progress; try again in a moment.",
        code=BillingErrorCode.CHANGE_IN_PROGRESS,
    )


async def _release(
    user_id: int,
    key: str,
    *,
    subscription_ref: str | None = None,
    conn: BaseDBAsyncClient | None = None,
) -> None:
    await (
        SubscriptionClaim.filter(user_id=user_id, key=key, state=ClaimState.PENDING)
        .using_db(conn)
        .update(state=ClaimState.DONE, finished_at=utcnow(), subscription_ref=subscription_ref)
    )


# starting ------------------------------------------------------------------------------


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
    attach the payment method and subscribe now (``PaymentDeclined`` if the card fails,
    ``PaymentActionRequired`` if the bank wants 3-D Secure). At most one start per user
    runs at a time (``Conflict`` ALREADY_SUBSCRIBED for the others)."""
    user = require_viewer(actor)
    plan = await _available_plan(plan_id)
    if idempotency_key is not None and not 8 <= len(idempotency_key) <= 100:
        raise InvalidInput("Use 8-100 characters.", field="idempotencyKey")
    success = cancel = ""
    if mode == StartMode.CHECKOUT:
        success = _check_url(success_url, "successUrl")
        cancel = _check_url(cancel_url or success_url, "cancelUrl")
    elif not payment_method_id or not payment_method_id.startswith("pm_"):
        raise InvalidInput(
            "A Stripe payment method id (pm_...) is needed.", field="paymentMethodId"
        )
    attempt = idempotency_key or f"{plan.id}:{await Subscription.filter(user_id=user.id).count()}"
    base = f"{user.id}:{attempt}"
    claim_key = f"start:{base}:{payment_method_id or mode.value}"[:255]
    prior = await _take_claim(user.id, ClaimAction.START, claim_key)
    if prior is not None and prior.status == "incomplete":
        # The same request again while its first payment waits for 3-D Secure: the same
        # answer, as long as Stripe still waits; else a fresh start.
        fresh = await gateway().retrieve_subscription(prior.stripe_id)
        action = await _action_required(fresh) if fresh else None
        if fresh is not None and fresh.get("status") == "incomplete" and action is not None:
            raise PaymentActionRequired(
                client_secret=action[0], payment_intent_id=action[1], subscription_id=fresh["id"]
            )
        prior = await _take_claim(user.id, ClaimAction.START, claim_key, reuse=False)
    if prior is not None:
        return StartResult(mode, subscription=prior)
    try:
        if mode == StartMode.CHECKOUT:
            customer = await ensure_customer(user)
            session = await gateway().create_checkout_session(
                customer=customer.stripe_id,
                plan_id=str(plan.stripe_plan_id),
                user_id=user.id,
                success_url=success,
                cancel_url=cancel,
                key=f"checkout:{base}",
            )
            await duplicates.record_checkout(user.id, session, str(plan.stripe_plan_id))
            return StartResult(mode, checkout_url=session["url"])
        assert payment_method_id is not None
        return await _start_direct(user, plan, payment_method_id, base, claim_key)
    finally:
        await _release(user.id, claim_key)  # a no-op when _save already closed it


async def _start_direct(
    user: User, plan: Plan, payment_method_id: str, base: str, claim_key: str
) -> StartResult:
    stripe = gateway()
    known = await Customer.filter(user_id=user.id).exists()
    customer = await ensure_customer(user)
    if known:
        await _settle_stripe_side(user.id, customer.stripe_id)
    # The payment method is part of both keys: a declined card followed by another card
    # is a new request, while retrying the same request still gets Stripe's first answer.
    await stripe.attach_payment_method(
        customer.stripe_id, payment_method_id, f"attach:{base}:{payment_method_id}"
    )
    obj = await stripe.create_subscription(
        customer=customer.stripe_id,
        plan_id=str(plan.stripe_plan_id),
        user_id=user.id,
        key=f"subscribe:{base}:{payment_method_id}",
    )
    status = obj.get("status")
    if status == "incomplete":
        action = await _action_required(obj)
        if action is not None:
            client_secret, payment_intent = action
            await _save(user.id, obj, None, claim_key=claim_key)
            raise PaymentActionRequired(
                client_secret=client_secret,
                payment_intent_id=payment_intent,
                subscription_id=obj["id"],
            )
        # The first payment failed: end it now rather than leave it dangling for 23 hours.
        ended = await stripe.cancel_subscription(obj["id"], f"cancel-incomplete:{obj['id']}")
        await _save(user.id, ended, None, claim_key=claim_key)
        raise PaymentDeclined("Your card was declined.", decline_code="card_declined")
    if status not in LIVE:  # a retry of a request whose subscription was declined and ended
        await _save(user.id, obj, None, claim_key=claim_key)
        raise PaymentDeclined("Your card was declined.", decline_code="card_declined")
    sub = await _save(user.id, obj, obj.get("latest_invoice"), claim_key=claim_key)
    await _expire_checkouts(user.id)
    return StartResult(StartMode.DIRECT, subscription=sub)


async def _expire_checkouts(user_id: int) -> None:
    """A start succeeded: the user's open hosted Checkout sessions can no longer be paid.
    The start stands if Stripe cannot be reached now; a session paid anyway makes a
    duplicate that the webhook ends and refunds (``ncm.billing.duplicates``)."""
    try:
        await duplicates.expire_open_checkouts(user_id)
    except (PaymentProviderError, PaymentProviderUnavailable) as exc:
        log.warning(
            "could not expire open checkout sessions",
            extra={"user_id": user_id, "error": exc.message},
        )


async def _settle_stripe_side(user_id: int, customer: str) -> None:
    """What Stripe knows about the customer's subscriptions wins over the local mirror: a
    live one we never recorded (a lost answer, a hosted checkout) is recorded and refused
    as ALREADY_SUBSCRIBED; an incomplete one (an abandoned 3-D Secure) is cancelled, so it
    cannot be completed later next to the new one."""
    stripe = gateway()
    live: Obj | None = None
    async for remote in stripe.list_subscriptions(customer=customer):
        status = remote.get("status")
        if status in LIVE:
            live = remote
        elif status == "incomplete":
            ended = await stripe.cancel_subscription(
                remote["id"], f"cancel-incomplete:{remote['id']}"
            )
            await _save(user_id, ended, None)
    if live is not None:
        await _save(user_id, live, None)
        raise already_subscribed()


async def _action_required(sub: Obj) -> tuple[str, str | None] | None:
    """``(client_secret, payment_intent_id)`` when the first invoice's payment waits for the
    cardholder (3-D Secure), else ``None``. Reads both invoice shapes (``payment_intent``
    on older API versions; ``payments`` / ``confirmation_secret`` on newer ones)."""
    stripe = gateway()
    invoice: Any = sub.get("latest_invoice")
    if isinstance(invoice, str):
        invoice = await stripe.retrieve_invoice(invoice)
    if not isinstance(invoice, dict):
        return None
    secret = (invoice.get("confirmation_secret") or {}).get("client_secret")
    pi_id = sync.invoice_payment_intent(invoice)
    if pi_id is None and secret and "_secret_" in secret:
        pi_id = secret.split("_secret_", 1)[0]
    if pi_id is None:
        return None
    pi = await stripe.retrieve_payment_intent(pi_id)
    if not pi or pi.get("status") != "requires_action":
        return None
    client_secret = pi.get("client_secret") or secret
    return (str(client_secret), pi_id) if client_secret else None


async def _save(
    user_id: int, sub: Obj, invoice: object, *, claim_key: str | None = None
) -> Subscription:
    async with in_transaction() as conn:
        await ledger.lock_user(conn, user_id)
        row = await sync.apply_subscription(conn, user_id, sub)
        if isinstance(invoice, dict) and invoice.get("status") == "paid":
            await sync.apply_invoice_paid(conn, user_id, invoice)
        if claim_key is not None:
            await _release(user_id, claim_key, subscription_ref=row.stripe_id, conn=conn)
    return row


async def _own_live(user: User) -> Subscription:
    sub = await live_subscription(user.id)
    if sub is None:
        raise NotFound(
            "You have no membership subscription.", code=BillingErrorCode.NO_SUBSCRIPTION
        )
    return sub


def _version(sub: Subscription) -> int:
    return int(sub.updated_at.timestamp() * 1000)


async def cancel_membership(actor: User | None) -> Subscription:
    """Stop renewing: the membership runs to the end of the paid period. Every live
    subscription of the user stops renewing, not only the newest: a second one can exist
    (two hosted checkouts completed, which no claim can hold; ``reconcile`` reports it as
    DUPLICATE_LIVE), and it must not keep charging after the user cancelled."""
    user = require_viewer(actor)
    sub = await _own_live(user)
    others = (
        await Subscription.filter(user_id=user.id, status__in=list(LIVE))
        .exclude(id=sub.id)
        .filter(cancel_at_period_end=False)
    )
    for other in others:
        obj = await gateway().update_subscription(
            other.stripe_id,
            {"cancel_at_period_end": True},
            f"cancel:{other.stripe_id}:{_version(other)}",
        )
        await _save(user.id, obj, None)
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
    """Switch to another plan now; Stripe prorates (its default behaviour). One change (or
    start) per user at a time."""
    user = require_viewer(actor)
    sub = await _own_live(user)
    plan = await _available_plan(plan_id)
    if sub.stripe_plan_id == plan.stripe_plan_id:
        raise Conflict(
            "You are already on this plan.", field="planId", code=BillingErrorCode.SAME_PLAN
        )
    key = f"change:{sub.stripe_id}:{plan.stripe_plan_id}:{_version(sub)}"
    await _take_claim(user.id, ClaimAction.CHANGE, key)
    try:
        stripe = gateway()
        fresh = await stripe.retrieve_subscription(sub.stripe_id)
        item = sync.subscription_item(fresh or {})
        if not fresh or not item.get("id"):
            raise NotFound(
                "Stripe has no such subscription.", code=BillingErrorCode.NO_SUBSCRIPTION
            )
        if fresh.get("status") not in LIVE:
            await _save(user.id, fresh, None)
            raise NotFound(
                "You have no membership subscription.", code=BillingErrorCode.NO_SUBSCRIPTION
            )
        obj = await stripe.update_subscription(
            sub.stripe_id, {"items": [{"id": item["id"], "plan": plan.stripe_plan_id}]}, key
        )
        return await _save(user.id, obj, None, claim_key=key)
    finally:
        await _release(user.id, key)


async def billing_portal_url(actor: User | None, return_url: str) -> str:
    """A Stripe billing portal session (cards, invoices) for the viewer."""
    user = require_viewer(actor)
    customer = await Customer.get_or_none(user_id=user.id)
    if customer is None:
        raise NotFound("You have no billing account yet.", code=BillingErrorCode.NO_CUSTOMER)
    session = await gateway().create_portal_session(
        customer=customer.stripe_id, return_url=_check_url(return_url, "returnUrl")
    )
    return str(session["url"])
