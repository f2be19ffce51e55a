"""Stripe webhook events: receive (verify, record, wake the drain) and process (in a job).

Receiving is the fast path the HTTP handler runs: verify the signature, insert the event
under its unique Stripe id, wake the drain (``process_stripe_events``) and answer. A
redelivered event finds its row and does no new work. Processing re-reads subscriptions from
Stripe and merges invoices and refunds into the ledger (see ``ncm.billing.sync``), so
duplicates and any order of delivery end in the same state.

The drain applies pending events in batches (:func:`process_batch`): one transaction claims
up to :data:`BATCH` of them (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers
share the backlog), locks their users in id order (two batches never deadlock), reads each
Stripe subscription once, applies the events through the same handlers as one event and
marks them; if one fails, the batch is applied again with a savepoint per event, so the
failure is rolled back and recorded alone. :func:`process` is the same code over one event
(replays, and per-event jobs queued by an older API).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
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
from ncm.kit.db import is_postgres
from ncm.kit.locks import lock_many_for_transaction

log = logging.getLogger("ncm.billing.webhooks")

MAX_ATTEMPTS = 20  # a provider outage longer than this many retries needs an operator
BATCH = 100  # events a drain applies in one transaction
DRAIN_SECONDS = 60.0  # a drain hands over to a fresh run after this long (job timeouts)
PREFETCH = 8  # Stripe subscription reads a batch has in flight at once

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
        # A pending duplicate may mean the first wake was lost: a wake is cheap.
        await wake_drain()
    return Received(row.id, stripe_id, row.type, duplicate)


async def wake_drain(*, now: bool = False) -> None:
    """Have the drain run: once for a burst of events (``ncm.kit.jobs.wake``), or, with
    ``now``, a run of its own whatever is queued (the sweep: a wake may have been lost)."""
    # lazy: ncm.billing.jobs imports this module (its jobs run the processing below)
    from ncm.billing.jobs import process_stripe_events
    from ncm.kit.jobs import enqueue, wake

    if now:
        await enqueue(process_stripe_events)
    else:
        await wake(process_stripe_events)


# processing -----------------------------------------------------------------------------

Handler = Callable[[BaseDBAsyncClient, Obj], Awaitable[None]]


class WaitingForCustomer(Exception):
    """The event's Stripe customer is not linked to a user yet (paid before linked: a
    customer made outside ncm, ``invoice.paid`` before ``checkout.session.completed``)."""

    def __init__(self, customer: str) -> None:
        super().__init__(f"waiting for Stripe customer {customer!r} to be linked to a user")
        self.customer = customer


@dataclass
class _BatchState:
    """What a batch knows while it runs: the users it locked, the users of the customers
    it looked up, and its reads of Stripe subscriptions (started up front, awaited when an
    event needs one)."""

    held: frozenset[int] = frozenset()
    claimed: list[int] | None = None  # the first claim's event ids
    customers: dict[str, int] = field(default_factory=dict)
    subscriptions: dict[str, asyncio.Task[Obj | None]] = field(default_factory=dict)


_BATCH: ContextVar[_BatchState | None] = ContextVar("ncm_billing_batch", default=None)


async def _user_for(conn: BaseDBAsyncClient, obj: Obj) -> int | None:
    state = _BATCH.get()
    customer = _customer(obj)
    if state is not None and customer is not None and customer in state.customers:
        return state.customers[customer]
    return await sync.user_for(conn, obj)


async def _locked_user(conn: BaseDBAsyncClient, obj: Obj) -> int:
    user_id = await _user_for(conn, obj)
    if user_id is None:
        customer = sync.ref(obj.get("customer"))
        if customer:
            raise WaitingForCustomer(str(customer))
        raise NotFound("No user for this Stripe object (no customer, no ncm_user_id).")
    await _lock_user(conn, user_id)
    return user_id


async def _lock_user(conn: BaseDBAsyncClient, user_id: int) -> None:
    state = _BATCH.get()
    if state is None or user_id not in state.held:  # a batch locked its users up front
        await ledger.lock_user(conn, user_id)


async def _read_subscription(sub_id: str) -> Obj | None:
    """Stripe's subscription, read once per batch (a batch's events were all received
    before it began, so a read made during the batch is as new as any of them). A read
    that failed is made again (and fails the event the way it always does)."""
    state = _BATCH.get()
    if state is None:
        return await gateway().retrieve_subscription(sub_id)
    read = state.subscriptions.get(sub_id)
    if read is None or (read.done() and (read.cancelled() or read.exception() is not None)):
        read = state.subscriptions[sub_id] = _start_read(sub_id)
    return await asyncio.shield(read)


def _start_read(sub_id: str, gate: asyncio.Semaphore | None = None) -> asyncio.Task[Obj | None]:
    """A read of the subscription in the background (``gate`` bounds reads in flight)."""

    async def read() -> Obj | None:
        if gate is None:
            return await gateway().retrieve_subscription(sub_id)
        async with gate:
            return await gateway().retrieve_subscription(sub_id)

    task = asyncio.ensure_future(read())
    task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved: no warning
    return task


async def _refresh_subscription(conn: BaseDBAsyncClient, user_id: int, sub_id: str) -> None:
    fresh = await _read_subscription(sub_id)
    if fresh is None:
        raise NotFound(f"Stripe has no subscription {sub_id!r}.")
    row = await sync.apply_subscription(conn, user_id, fresh)
    if row.status in duplicates.LIVE:  # a second live one (two checkouts): end the newer
        ended = await duplicates.resolve(conn, user_id)
        state = _BATCH.get()
        if ended and state is not None:  # Stripe changed under the batch: read again
            state.subscriptions.clear()


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
    user_id = await _user_for(conn, obj)
    if user_id is not None:
        await _lock_user(conn, user_id)
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


# Stripe subscriptions an event's handler reads whatever the local state (prefetched by a
# batch, several at once); reads that depend on the local state are made when needed.
def _subscriptions_read(type_: str, obj: Obj) -> Iterable[Any]:
    if type_.startswith("customer.subscription."):
        yield obj.get("id")
    elif type_ == "checkout.session.completed":
        yield sync.ref(obj.get("subscription"))
    elif type_ == "invoice.payment_failed":
        yield sync.invoice_subscription(obj)


@dataclass
class Batch:
    """What one batch did: the status of each event it claimed, and whether it stopped
    because Stripe was unavailable (the events after that one were left PENDING)."""

    statuses: dict[int, EventStatus] = field(default_factory=dict)
    unavailable: PaymentProviderUnavailable | None = None
    linked: list[str] = field(default_factory=list)  # customers linked (sync.LINKED)
    waiting: set[str] = field(default_factory=set)  # customers events were left waiting on

    @property
    def claimed(self) -> int:
        return len(self.statuses)


class _Isolate(Exception):
    """An event failed in a batch applied without savepoints: the batch is rolled back
    and applied again with each event in a savepoint of its own."""


async def process(event_id: int, *, force: bool = False) -> EventStatus:
    """Apply one recorded event (idempotent): a batch of one. ``PaymentProviderUnavailable``
    propagates with the event left PENDING, so the job retries; an event whose customer is
    not linked yet is WAITING (retried when the link appears); any other failure marks it
    FAILED. ``force`` applies a PROCESSED or IGNORED event again (``replay``)."""
    batch = await process_batch(event_id=event_id, force=force)
    if event_id not in batch.statuses:
        raise NotFound("No such event.")
    if batch.unavailable is not None:
        raise batch.unavailable
    return batch.statuses[event_id]


async def process_batch(
    limit: int = BATCH, *, event_id: int | None = None, force: bool = False
) -> Batch:
    """Claim up to ``limit`` PENDING events (or the one ``event_id``) and apply them in one
    transaction. A batch is first applied as a whole; if an event fails, it is rolled back
    and applied again (the same claimed events, the same Stripe reads) with each event in a
    savepoint: the failure is rolled back alone and recorded as the per-event rules say
    (PENDING while Stripe is unavailable, and the batch stops there; WAITING for a customer
    link; else FAILED). Events whose customers got linked meanwhile are released after the
    commit."""
    state = _BatchState()
    tokens = (_BATCH.set(state), sync.TIERS.set({}))
    try:
        try:
            done = await _apply_batch(state, limit, event_id, force, isolate=event_id is not None)
        except _Isolate:
            done = await _apply_batch(state, limit, event_id, force, isolate=True)
    finally:
        for read in state.subscriptions.values():
            read.cancel()
        _BATCH.reset(tokens[0])
        sync.TIERS.reset(tokens[1])
    linked = done.linked
    if done.waiting:  # linked meanwhile (by another transaction)
        found = await Customer.filter(stripe_id__in=sorted(done.waiting)).values_list(
            "stripe_id", flat=True
        )
        linked = [*linked, *(str(c) for c in found)]
    if linked:
        await release_waiting(sorted(set(linked)))
    return done


async def _apply_batch(
    state: _BatchState, limit: int, event_id: int | None, force: bool, *, isolate: bool
) -> Batch:
    done = Batch()
    token = sync.LINKED.set(done.linked)
    try:
        async with in_transaction() as conn:
            rows = await _claim(conn, state, limit, event_id)
            work: list[tuple[StripeEvent, Obj | None]] = []
            for row in rows:
                if not force and row.status in (EventStatus.PROCESSED, EventStatus.IGNORED):
                    done.statuses[row.id] = row.status  # a per-event job raced a batch
                else:
                    work.append((row, _object(row)))
            await _lock_users(conn, state, [obj for _, obj in work if obj])
            _prefetch(state, work)
            applied: dict[EventStatus, list[int]] = {
                EventStatus.PROCESSED: [],
                EventStatus.IGNORED: [],
            }
            for row, obj in work:
                if done.unavailable is not None:
                    break  # left PENDING, untouched: the next run takes them
                if not isolate:
                    try:
                        status = await _apply(conn, row, obj)
                    except Exception as exc:
                        raise _Isolate from exc
                    applied[status].append(row.id)
                    done.statuses[row.id] = status
                    continue
                await _apply_alone(conn, row, obj, done, applied)
            await _mark(conn, applied[EventStatus.PROCESSED], EventStatus.PROCESSED, count=True)
            await _mark(conn, applied[EventStatus.IGNORED], EventStatus.IGNORED)
    finally:
        sync.LINKED.reset(token)
    return done


async def _apply_alone(
    conn: BaseDBAsyncClient,
    row: StripeEvent,
    obj: Obj | None,
    done: Batch,
    applied: dict[EventStatus, list[int]],
) -> None:
    """One event in a savepoint: applied, or rolled back and its failure recorded."""
    mark, waiting_on = len(done.linked), None
    try:
        async with in_transaction() as savepoint:
            status = await _apply(savepoint, row, obj)
        applied[status].append(row.id)
        done.statuses[row.id] = status
        return
    except PaymentProviderUnavailable as exc:
        last = row.attempts + 1 >= MAX_ATTEMPTS
        status = EventStatus.FAILED if last else EventStatus.PENDING
        error = f"provider unavailable: {exc.message}"
        done.unavailable = exc
    except WaitingForCustomer as exc:
        status, error, waiting_on = EventStatus.WAITING, str(exc), exc.customer
        done.waiting.add(exc.customer)
    except Exception as exc:
        log.exception("stripe event failed", extra={"event": row.stripe_id, "type": row.type})
        status, error = EventStatus.FAILED, f"{type(exc).__name__}: {exc}"
    del done.linked[mark:]  # rolled back with the event
    await _finish(conn, row.id, status, error, count=True, waiting_on=waiting_on)
    done.statuses[row.id] = status


async def _claim(
    conn: BaseDBAsyncClient, state: _BatchState, limit: int, event_id: int | None
) -> list[StripeEvent]:
    """The batch's rows, locked until it commits. A drain skips rows another batch holds
    (SQLite has one writer at a time: no row locks, none to skip); one event waits for its
    row. Applied again after a failure, a batch claims what is left of its first claim."""
    if event_id is not None:
        query = StripeEvent.filter(id=event_id).using_db(conn)
        return await (query.select_for_update() if is_postgres() else query)
    query = StripeEvent.filter(status=EventStatus.PENDING)
    if state.claimed is not None:
        query = query.filter(id__in=state.claimed)
    query = query.order_by("id").limit(limit).using_db(conn)
    rows = await (query.select_for_update(skip_locked=True) if is_postgres() else query)
    if state.claimed is None:
        state.claimed = [row.id for row in rows]
    return rows


def _object(row: StripeEvent) -> Obj | None:
    """The event's ``data.object``, or ``None`` when the payload has none (its handler
    then fails the event, as any other error would)."""
    try:
        obj = json.loads(row.payload)["data"]["object"]
    except (ValueError, KeyError, TypeError):
        return None
    return obj if isinstance(obj, dict) else None


async def _lock_users(conn: BaseDBAsyncClient, state: _BatchState, objs: list[Obj]) -> None:
    """Lock the users the objects belong to, in id order (found as ``sync.user_for`` finds
    them, without linking anything): batches that share users wait for each other, never
    deadlock. A user found only while applying (a new link) is locked then."""
    customers = {c for obj in objs if (c := _customer(obj))}
    if customers:
        rows = await (
            Customer.filter(stripe_id__in=sorted(customers))
            .using_db(conn)
            .values_list("stripe_id", "user_id")
        )
        state.customers = {str(stripe_id): int(user_id) for stripe_id, user_id in rows}
    users: set[int] = set()
    for obj in objs:
        found = state.customers.get(_customer(obj) or "") or sync.user_hint(obj)
        if found is not None:
            users.add(found)
    await lock_many_for_transaction(conn, "ncm.billing.ledger", users)
    state.held = frozenset(users)


def _customer(obj: Obj) -> str | None:
    """The object's customer id, if it is one the database can be asked about."""
    found = sync.ref(obj.get("customer"))
    if isinstance(found, str) and 0 < len(found) <= 255 and "\x00" not in found:
        return found
    return None


def _prefetch(state: _BatchState, work: list[tuple[StripeEvent, Obj | None]]) -> None:
    """Start reading the batch's subscriptions (the events are applied meanwhile, each
    waits for the read it needs), at most :data:`PREFETCH` at a time."""
    ids = sorted(
        {
            sub_id
            for row, obj in work
            if obj is not None and row.type in HANDLERS
            for sub_id in _subscriptions_read(row.type, obj)
            if isinstance(sub_id, str) and sub_id
        }
    )
    gate = asyncio.Semaphore(PREFETCH)
    for sub_id in ids:
        if sub_id not in state.subscriptions:
            state.subscriptions[sub_id] = _start_read(sub_id, gate)


async def _apply(conn: BaseDBAsyncClient, row: StripeEvent, obj: Obj | None) -> EventStatus:
    handler = HANDLERS.get(row.type)
    if handler is None:
        return EventStatus.IGNORED
    if obj is None:
        raise TypeError("data.object is not an object")
    await handler(conn, obj)
    return EventStatus.PROCESSED


async def _mark(
    conn: BaseDBAsyncClient, ids: list[int], status: EventStatus, *, count: bool = False
) -> None:
    if not ids:
        return
    values: dict[str, Any] = {
        "status": status,
        "processed_at": utcnow(),
        "last_error": "",
        "waiting_on": None,
    }
    if count:
        values["attempts"] = F("attempts") + 1
    await StripeEvent.filter(id__in=ids).using_db(conn).update(**values)


async def drain(max_seconds: float = DRAIN_SECONDS) -> int:
    """Batches until no event is pending (or ``max_seconds``: then a fresh run is woken to
    go on). Returns how many events it claimed. ``PaymentProviderUnavailable`` propagates
    once the batch that met it has committed (its job retries later)."""
    deadline = time.monotonic() + max_seconds
    claimed = 0
    while True:
        batch = await process_batch()
        claimed += batch.claimed
        if batch.unavailable is not None:
            raise batch.unavailable
        if batch.claimed < BATCH:
            return claimed
        if time.monotonic() >= deadline:
            await wake_drain()
            return claimed


async def release_waiting(customers: list[str]) -> int:
    """Retry the events that waited for these Stripe customers to be linked to a user
    (call after the link committed). Returns how many were made PENDING again."""
    if not customers:
        return 0
    released = await StripeEvent.filter(
        status=EventStatus.WAITING, waiting_on__in=customers
    ).update(status=EventStatus.PENDING)
    if released:
        await wake_drain()
    return int(released)


async def _finish(
    conn: BaseDBAsyncClient,
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
    await (
        StripeEvent.filter(id=event_id)
        .exclude(status=EventStatus.PROCESSED)
        .using_db(conn)
        .update(**values)
    )


async def replay(stripe_id: str) -> EventStatus:
    """Process an event again from its stored payload (operators: after fixing a cause)."""
    row = await StripeEvent.get_or_none(stripe_id=stripe_id)
    if row is None and stripe_id.isdigit():
        row = await StripeEvent.get_or_none(id=int(stripe_id))
    if row is None:
        raise NotFound("No such event.", field="event")
    return await process(row.id, force=True)


async def requeue_stale(older_than: timedelta = timedelta(minutes=2)) -> int:
    """Run the drain for events still pending after a while (a lost wake, a provider
    outage), and release waiting events whose customer got linked some other way (an
    operator, a restore). Returns how many events that concerns."""
    cutoff = datetime.now(UTC) - older_than
    stale = await StripeEvent.filter(status=EventStatus.PENDING, received_at__lt=cutoff).count()
    if stale:
        await wake_drain(now=True)
    waiting = await (
        StripeEvent.filter(status=EventStatus.WAITING)
        .distinct()
        .limit(1000)
        .values_list("waiting_on", flat=True)
    )
    linked = await Customer.filter(stripe_id__in=[w for w in waiting if w]).values_list(
        "stripe_id", flat=True
    )
    return stale + await release_waiting([str(c) for c in linked])


async def list_events(
    *, failed: bool = False, waiting: bool = False, limit: int = 50
) -> list[StripeEvent]:
    query = StripeEvent.all()
    statuses = [s for s, on in ((EventStatus.FAILED, failed), (EventStatus.WAITING, waiting)) if on]
    if statuses:
        query = query.filter(status__in=statuses)
    return await query.order_by("-id").limit(limit)
