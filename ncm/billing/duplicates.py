"""At most one live subscription per user, hosted Checkout included.

A direct start holds the user's claim (``subscriptions._take_claim``); hosted Checkout
cannot hold it while the user is on Stripe's page. Two steps close that gap:

1. **Expire the others.** Every Checkout session ncm creates is recorded
   (``CheckoutSession``). When a start succeeds (a direct start, or a checkout completing),
   the user's other open sessions are expired in Stripe, so they can no longer be paid.
2. **End the newer duplicate.** A session can still be paid before it is expired (two
   checkouts completed at once, or one completed right after a direct start). When webhook
   processing mirrors a live subscription and the user has another live one, the older one
   (Stripe's ``created``, then id) is kept and the newer is cancelled in Stripe at once
   (no proration, no final invoice) and its paid invoice refunded in full. Both writes carry
   idempotency keys, the resolution is one ``DuplicateSubscription`` row per duplicate
   (found by any later event: a redelivered or reordered event never refunds twice), and
   Stripe itself refuses a second full refund of a charge. The ledger keeps the duplicate's
   PAID period, refunded and revoked: finance counts no paid day for it.

Everything here runs under the user's ledger lock in the caller's transaction.
"""

from __future__ import annotations

import logging

from tortoise.backends.base.client import BaseDBAsyncClient

from ncm.billing import ledger, sync
from ncm.billing.entitlement import utcnow
from ncm.billing.models import (
    LIVE,
    ChargeRefund,
    CheckoutSession,
    CheckoutState,
    DuplicateState,
    DuplicateSubscription,
    Subscription,
)
from ncm.billing.stripe import Obj, gateway

log = logging.getLogger("ncm.billing.duplicates")

CHECKOUT_STATES = {
    "open": CheckoutState.OPEN,
    "complete": CheckoutState.COMPLETE,
    "expired": CheckoutState.EXPIRED,
}


# 1. checkout sessions ------------------------------------------------------------------


async def record_checkout(user_id: int, session: Obj, stripe_plan_id: str) -> None:
    """Remember a Checkout session ncm created (open until completed or expired)."""
    await CheckoutSession.get_or_create(
        stripe_id=session["id"],
        defaults={
            "user_id": user_id,
            "stripe_plan_id": stripe_plan_id,
            "state": CHECKOUT_STATES.get(str(session.get("status") or "open"), CheckoutState.OPEN),
        },
    )


async def checkout_closed(
    conn: BaseDBAsyncClient | None, user_id: int, session: Obj, state: CheckoutState
) -> None:
    """A session completed or expired (its webhook event, or Stripe's answer to an
    expiry): record it."""
    values = {
        "state": state,
        "subscription_ref": sync.ref(session.get("subscription")),
        "closed_at": utcnow() if state != CheckoutState.OPEN else None,
    }
    row = await CheckoutSession.filter(stripe_id=session["id"]).using_db(conn).first()
    if row is None:  # a session made outside ncm (the dashboard, a payment link)
        await CheckoutSession.create(
            stripe_id=session["id"], user_id=user_id, using_db=conn, **values
        )
    elif row.state == CheckoutState.OPEN or (
        row.state == CheckoutState.EXPIRED and state == CheckoutState.COMPLETE
    ):
        await CheckoutSession.filter(id=row.id).using_db(conn).update(**values)


async def expire_open_checkouts(
    user_id: int, *, keep: str | None = None, conn: BaseDBAsyncClient | None = None
) -> list[str]:
    """Expire the user's open Checkout sessions (but ``keep``) in Stripe, so none can be
    paid after a start succeeded. Returns the ids of sessions Stripe reports as completed
    meanwhile (their subscriptions are duplicates the webhook resolves)."""
    rows = await (
        CheckoutSession.filter(user_id=user_id, state=CheckoutState.OPEN)
        .exclude(stripe_id=keep or "")
        .using_db(conn)
        .order_by("id")
    )
    completed = []
    for row in rows:
        obj = await gateway().expire_checkout_session(row.stripe_id, f"expire:{row.stripe_id}")
        state = CHECKOUT_STATES.get(str((obj or {}).get("status")), CheckoutState.EXPIRED)
        if state == CheckoutState.OPEN:  # not expired after all: the next start tries again
            continue
        await checkout_closed(conn, user_id, obj or {"id": row.stripe_id}, state)
        log.info(
            "checkout session closed",
            extra={"user_id": user_id, "session": row.stripe_id, "state": state.value},
        )
        if state == CheckoutState.COMPLETE:
            completed.append(row.stripe_id)
    return completed


# 2. a second live subscription ---------------------------------------------------------


async def resolve(conn: BaseDBAsyncClient, user_id: int) -> list[DuplicateSubscription]:
    """If the user has more than one live subscription, keep the oldest and end the
    others (cancel now, refund in full). Idempotent; call with the user locked."""
    live = await (
        Subscription.filter(user_id=user_id, status__in=list(LIVE)).using_db(conn).order_by("id")
    )
    if len(live) < 2:
        return []
    stripe = gateway()
    fresh: list[Obj] = []
    for row in live:  # rare: re-read each, the mirror may be behind (one already ended)
        obj = await stripe.retrieve_subscription(row.stripe_id)
        if obj is None:
            continue
        if obj.get("status") in LIVE:
            fresh.append(obj)
        else:
            await sync.apply_subscription(conn, user_id, obj)
    if len(fresh) < 2:
        return []
    fresh.sort(key=lambda s: (int(s.get("created") or 0), str(s["id"])))
    kept = fresh[0]
    return [await _end_duplicate(conn, user_id, sub, kept["id"]) for sub in fresh[1:]]


async def _end_duplicate(
    conn: BaseDBAsyncClient, user_id: int, sub: Obj, kept: str
) -> DuplicateSubscription:
    sid = str(sub["id"])
    done = await DuplicateSubscription.filter(subscription_ref=sid).using_db(conn).first()
    stripe = gateway()
    ended = await stripe.cancel_subscription_now(sid, f"cancel-duplicate:{sid}")
    await sync.apply_subscription(conn, user_id, ended)
    if done is not None:  # resolved before (a mirror that lagged): never refund again
        return done
    # Every paid invoice, not only the latest: a duplicate found late (webhooks stalled over
    # a renewal) has charged more than once, and each charge is refunded in full.
    invoices = await stripe.subscription_paid_invoices(sid)
    latest_id = sync.ref(sub.get("latest_invoice"))
    if latest_id and all(str(i["id"]) != latest_id for i in invoices):
        latest = await stripe.retrieve_invoice(latest_id)  # a list that lags behind
        if latest is not None and latest.get("status") == "paid":
            invoices.append(latest)
    state, payment, refund_id, refunded, currency = DuplicateState.CANCELED, None, None, 0, ""
    for invoice in invoices:
        amount, paid_with, made, money = await _refund_invoice(conn, user_id, invoice, sid, kept)
        if amount > 0:
            state, refunded = DuplicateState.REFUNDED, refunded + amount
            payment, refund_id, currency = paid_with, made or refund_id, money
    invoice_ref = str(invoices[-1]["id"]) if invoices else latest_id
    row = await DuplicateSubscription.create(
        user_id=user_id,
        subscription_ref=sid,
        kept_ref=kept,
        state=state,
        invoice_ref=invoice_ref,
        payment_ref=payment,
        refund_ref=refund_id,
        amount_refunded=refunded,
        currency=currency,
        resolved_at=utcnow(),
        using_db=conn,
    )
    log.warning(
        "duplicate subscription ended and refunded",
        extra={
            "user_id": user_id,
            "subscription": sid,
            "kept": kept,
            "invoice": row.invoice_ref,
            "refund": refund_id,
            "amount": refunded,
            "currency": currency,
        },
    )
    return row


async def _refund_invoice(
    conn: BaseDBAsyncClient, user_id: int, invoice: Obj, sid: str, kept: str
) -> tuple[int, str | None, str | None, str]:
    """Refund one paid invoice of a duplicate in full (what is not refunded yet) and record
    it on the ledger, its period revoked: ``(amount, payment, refund id or None, currency)``;
    amount 0 when it charged nothing."""
    stripe = gateway()
    await sync.apply_invoice_paid(conn, user_id, invoice)  # its period, to be revoked
    amount = int(invoice.get("amount_paid") or 0)
    payment = sync.invoice_payment_ref(invoice)
    currency = str(invoice.get("currency") or "").upper()
    if amount <= 0 or not payment:
        return 0, payment, None, currency
    known = await ChargeRefund.filter(charge_ref=payment).using_db(conn).first()
    already = known.amount_refunded if known else 0
    refund_id, refunded_at = None, utcnow()
    if amount > already:
        refund = await stripe.refund_payment(
            payment,
            amount=amount - already,
            metadata={
                "ncm_reason": "duplicate_subscription",
                "ncm_subscription": sid,
                "ncm_kept": kept,
            },
            key=f"refund-duplicate:{invoice['id']}",
        )
        refund_id = refund["id"] if refund else None
        refunded_at = (sync.ts(refund.get("created")) if refund else None) or utcnow()
    await ledger.record_refund(
        conn,
        charge_ref=payment,
        invoice_ref=str(invoice["id"]),
        amount=amount,
        amount_refunded=amount,
        currency=currency,
        fully_refunded=True,
        refunded_at=refunded_at,
    )
    return amount, payment, refund_id, currency


async def resolutions(user_id: int | None = None, limit: int = 50) -> list[DuplicateSubscription]:
    """Duplicate subscriptions ended so far, newest first (one user's, or everyone's): what
    ``ncm billing duplicates`` lists for support and finance."""
    query = DuplicateSubscription.all()
    if user_id is not None:
        query = query.filter(user_id=user_id)
    return list(await query.order_by("-resolved_at", "-id").limit(max(1, min(limit, 1000))))
