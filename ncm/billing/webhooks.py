"""Stripe webhook events: receive (verify, record, enqueue) and process (in a job).

Receiving is the fast path the HTTP handler runs: verify the signature, insert the event
under its unique Stripe id, enqueue its processing and answer. A redelivered event finds its
row and does no new work. Processing re-reads subscriptions from Stripe and merges invoices
and refunds into the ledger (see ``ncm.billing.sync``), so duplicates and any order of
delivery end in the same state.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from ncm.billing import duplicates, ledger, sync
from ncm.billing.entitlement import utcnow
from ncm.billing.errors import BillingNotConfigured, PaymentProviderUnavailable
from ncm.billing.models import (
    CheckoutSession,
    CheckoutState,
    Customer,
    EventStatus,
    StripeEvent,
    Subscription,
)
from ncm.billing.stripe import gateway, verify_event
from ncm.config import Settings, get_settings
from ncm.errors import NotFound

log = logging.getLogger("ncm.billing.webhooks")

MAX_ATTEMPTS = 20  # a provider outage longer than this many retries needs an operator

Obj = dict[str, Any]


@dataclass(frozen=True)
class Received:
    event_id: int
    stripe_id: str
    type: str
    duplicate: bool


async def receive(
    payload: bytes, signature: str | None, settings: Settings | None = None
) -> Received:
    """Verify, record and enqueue one delivery. Raises ``InvalidSignature``."""
    settings = settings or get_settings()
    if not settings.stripe_webhook_secret:
        raise BillingNotConfigured("The Stripe webhook secret is not configured.")
    event = verify_event(payload, signature, settings.stripe_webhook_secret)
    stripe_id = str(event["id"])
    try:
        row = await StripeEvent.create(
            stripe_id=stripe_id,
            type=str(event["type"])[:100],
            created=sync.ts(event.get("created")) or utcnow(),
            payload=payload.decode("utf-8"),
        )
        duplicate = False
    except IntegrityError:
        found = await StripeEvent.get_or_none(stripe_id=stripe_id)
        if found is None:  # pragma: no cover - the conflicting insert rolled back
            raise
        row, duplicate = found, True
    if not duplicate or row.status == EventStatus.PENDING:
        # A pending duplicate may mean the first enqueue was lost: the job id dedupes.
        await enqueue_processing(row)
    return Received(row.id, stripe_id, row.type, duplicate)


async def enqueue_processing(row: StripeEvent, *, retry: bool = False) -> None:
    """One job per event id (arq dedupes it while queued or its result lives); a retry
    after that needs a fresh job id."""
    # lazy: ncm.billing.jobs imports this module (its job runs the processing below)
    from ncm.billing.jobs import process_stripe_event
    from ncm.kit.jobs import enqueue

    job_id = f"stripe-event:{row.stripe_id}" + (f":retry{row.attempts}" if retry else "")
    await enqueue(process_stripe_event, row.id, job_id=job_id)


# processing -----------------------------------------------------------------------------

Handler = Callable[[BaseDBAsyncClient, Obj], Awaitable[None]]


class WaitingForCustomer(Exception):
    """The event's Stripe customer is not linked to a user yet (paid before linked: a
    customer made outside ncm, ``invoice.paid`` before ``checkout.session.completed``)."""

    def __init__(self, customer: str) -> None:
        super().__init__(f"waiting for Stripe customer {customer!r} to be linked to a user")
        self.customer = customer


async def _locked_user(conn: BaseDBAsyncClient, obj: Obj) -> int:
    user_id = await sync.user_for(conn, obj)
    if user_id is None:
        customer = sync.ref(obj.get("customer"))
        if customer:
            raise WaitingForCustomer(str(customer))
        raise NotFound("No user for this Stripe object (no customer, no ncm_user_id).")
    await ledger.lock_user(conn, user_id)
    return user_id


async def _refresh_subscription(conn: BaseDBAsyncClient, user_id: int, sub_id: str) -> None:
    fresh = await gateway().retrieve_subscription(sub_id)
    if fresh is None:
        raise NotFound(f"Stripe has no subscription {sub_id!r}.")
    row = await sync.apply_subscription(conn, user_id, fresh)
    if row.status in duplicates.LIVE:  # a second live one (two checkouts): end the newer
        await duplicates.resolve(conn, user_id)


async def on_subscription(conn: BaseDBAsyncClient, obj: Obj) -> None:
    user_id = await _locked_user(conn, obj)
    await _refresh_subscription(conn, user_id, obj["id"])


async def on_checkout_completed(conn: BaseDBAsyncClient, obj: Obj) -> None:
    """The user paid on Stripe's page: their other open sessions are expired (none can be
    paid now), and the subscription is mirrored (a second live one is ended and refunded,
    see ``ncm.billing.duplicates``)."""
    user_id = await _locked_user(conn, obj)
    await duplicates.checkout_closed(conn, user_id, obj, CheckoutState.COMPLETE)
    await duplicates.expire_open_checkouts(user_id, keep=obj["id"], conn=conn)
    sub_id = sync.ref(obj.get("subscription"))
    if sub_id:
        await _refresh_subscription(conn, user_id, sub_id)


async def on_checkout_expired(conn: BaseDBAsyncClient, obj: Obj) -> None:
    row = await CheckoutSession.filter(stripe_id=obj["id"]).using_db(conn).first()
    if row is not None:
        await duplicates.checkout_closed(conn, row.user_id, obj, CheckoutState.EXPIRED)


async def on_invoice_paid(conn: BaseDBAsyncClient, obj: Obj) -> None:
    user_id = await _locked_user(conn, obj)
    if obj.get("status") not in (None, "paid"):
        return
    await _invoice_paid(conn, user_id, obj)


async def _invoice_paid(conn: BaseDBAsyncClient, user_id: int, inv: Obj) -> None:
    await sync.apply_invoice_paid(conn, user_id, inv)
    sub_id = sync.invoice_subscription(inv)
    if not sub_id or inv.get("billing_reason") not in (None, "subscription_create"):
        return  # renewals and plan changes: the subscription events carry those
    # A first payment finished after 3-D Secure: the mirror still says incomplete (and
    # not every Stripe-compatible server sends customer.subscription.updated).
    local = await Subscription.filter(stripe_id=sub_id).using_db(conn).first()
    if local is None or local.status == "incomplete":
        await _refresh_subscription(conn, user_id, sub_id)
    # A start succeeded (a checkout, or a first payment finished after 3-D Secure): the
    # user's open Checkout sessions can no longer be paid.
    await duplicates.expire_open_checkouts(user_id, conn=conn)


async def on_payment_intent_succeeded(conn: BaseDBAsyncClient, obj: Obj) -> None:
    """Older API versions name the invoice a payment intent pays: finish it from there
    (newer ones do it through ``invoice.paid``)."""
    invoice_id = sync.ref(obj.get("invoice"))
    if not invoice_id:
        return
    user_id = await _locked_user(conn, obj)
    inv = await gateway().retrieve_invoice(invoice_id)
    if inv is not None and inv.get("status") == "paid":
        await _invoice_paid(conn, user_id, inv)


async def on_invoice_failed(conn: BaseDBAsyncClient, obj: Obj) -> None:
    user_id = await _locked_user(conn, obj)
    await sync.apply_invoice_failed(conn, user_id, obj)
    sub_id = sync.invoice_subscription(obj)
    if sub_id:  # past_due (or canceled) as Stripe now says
        await _refresh_subscription(conn, user_id, sub_id)


async def on_charge_refunded(conn: BaseDBAsyncClient, obj: Obj) -> None:
    user_id = await sync.user_for(conn, obj)
    if user_id is not None:
        await ledger.lock_user(conn, user_id)
    await sync.apply_charge_refunded(conn, obj)


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": on_checkout_completed,
    "checkout.session.expired": on_checkout_expired,
    "customer.subscription.created": on_subscription,
    "customer.subscription.updated": on_subscription,
    "customer.subscription.deleted": on_subscription,
    "customer.subscription.paused": on_subscription,
    "customer.subscription.resumed": on_subscription,
    "invoice.paid": on_invoice_paid,
    "invoice.payment_succeeded": on_invoice_paid,  # what localstripe (and older setups) send
    "invoice.payment_failed": on_invoice_failed,
    "charge.refunded": on_charge_refunded,
    "payment_intent.succeeded": on_payment_intent_succeeded,
}


async def process(event_id: int, *, force: bool = False) -> EventStatus:
    """Apply one recorded event (idempotent). ``PaymentProviderUnavailable`` propagates with
    the event left PENDING, so the job retries; an event whose customer is not linked yet is
    WAITING (retried when the link appears); any other failure marks it FAILED."""
    row = await StripeEvent.get_or_none(id=event_id)
    if row is None:
        raise NotFound("No such event.")
    if row.status in (EventStatus.PROCESSED, EventStatus.IGNORED) and not force:
        return row.status
    handler = HANDLERS.get(row.type)
    if handler is None:
        await _finish(row.id, EventStatus.IGNORED, "")
        return EventStatus.IGNORED
    linked: list[str] = []
    token = sync.LINKED.set(linked)
    try:
        obj = json.loads(row.payload)["data"]["object"]
        if not isinstance(obj, dict):
            raise TypeError("data.object is not an object")
        async with in_transaction() as conn:
            await handler(conn, obj)
            await (
                StripeEvent.filter(id=row.id)
                .using_db(conn)
                .update(
                    status=EventStatus.PROCESSED,
                    processed_at=utcnow(),
                    last_error="",
                    waiting_on=None,
                    attempts=F("attempts") + 1,
                )
            )
    except PaymentProviderUnavailable as exc:
        status = EventStatus.PENDING if row.attempts + 1 < MAX_ATTEMPTS else EventStatus.FAILED
        await _finish(row.id, status, f"provider unavailable: {exc.message}", count=True)
        raise
    except WaitingForCustomer as exc:
        await _finish(row.id, EventStatus.WAITING, str(exc), count=True, waiting_on=exc.customer)
        if await Customer.filter(stripe_id=exc.customer).exists():  # linked meanwhile
            await release_waiting([exc.customer])
        return EventStatus.WAITING
    except Exception as exc:
        log.exception("stripe event failed", extra={"event": row.stripe_id, "type": row.type})
        await _finish(row.id, EventStatus.FAILED, f"{type(exc).__name__}: {exc}", count=True)
        return EventStatus.FAILED
    finally:
        sync.LINKED.reset(token)
    if linked:
        await release_waiting(linked)
    return EventStatus.PROCESSED


async def release_waiting(customers: list[str]) -> int:
    """Retry the events that waited for these Stripe customers to be linked to a user
    (call after the link committed). Returns how many were re-enqueued."""
    if not customers:
        return 0
    rows = await StripeEvent.filter(status=EventStatus.WAITING, waiting_on__in=customers).order_by(
        "id"
    )
    if not rows:
        return 0
    await StripeEvent.filter(id__in=[r.id for r in rows], status=EventStatus.WAITING).update(
        status=EventStatus.PENDING
    )
    for row in rows:
        await enqueue_processing(row, retry=True)
    return len(rows)


async def _finish(
    event_id: int,
    status: EventStatus,
    error: str,
    *,
    count: bool = False,
    waiting_on: str | None = None,
) -> None:
    """Record an outcome; never downgrades an event another run already processed."""
    values: dict[str, Any] = {
        "status": status,
        "last_error": error[:2000],
        "waiting_on": waiting_on[:255] if waiting_on else None,
    }
    if count:
        values["attempts"] = F("attempts") + 1
    if status in (EventStatus.PROCESSED, EventStatus.IGNORED):
        values["processed_at"] = utcnow()
    await StripeEvent.filter(id=event_id).exclude(status=EventStatus.PROCESSED).update(**values)


async def replay(stripe_id: str) -> EventStatus:
    """Process an event again from its stored payload (operators: after fixing a cause)."""
    row = await StripeEvent.get_or_none(stripe_id=stripe_id)
    if row is None and stripe_id.isdigit():
        row = await StripeEvent.get_or_none(id=int(stripe_id))
    if row is None:
        raise NotFound("No such event.", field="event")
    return await process(row.id, force=True)


async def requeue_stale(older_than: timedelta = timedelta(minutes=2)) -> int:
    """Re-enqueue events still pending after a while (a lost enqueue, a provider outage),
    and waiting events whose customer got linked some other way (an operator, a restore)."""
    cutoff = datetime.now(UTC) - older_than
    rows = (
        await StripeEvent.filter(status=EventStatus.PENDING, received_at__lt=cutoff)
        .order_by("id")
        .limit(1000)
    )
    for row in rows:
        await enqueue_processing(row, retry=True)
    waiting = await (
        StripeEvent.filter(status=EventStatus.WAITING)
        .distinct()
        .limit(1000)
        .values_list("waiting_on", flat=True)
    )
    linked = await Customer.filter(stripe_id__in=[w for w in waiting if w]).values_list(
        "stripe_id", flat=True
    )
    return len(rows) + await release_waiting([str(c) for c in linked])


async def list_events(
    *, failed: bool = False, waiting: bool = False, limit: int = 50
) -> list[StripeEvent]:
    query = StripeEvent.all()
    statuses = [s for s, on in ((EventStatus.FAILED, failed), (EventStatus.WAITING, waiting)) if on]
    if statuses:
        query = query.filter(status__in=statuses)
    return await query.order_by("-id").limit(limit)
