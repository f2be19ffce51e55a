"""Compare local billing state with Stripe over a window, and (with ``execute``) repair.

Stripe is the source of truth. For every invoice and subscription created in the window
(paged through the wrapper) and every local row of the window, each difference is reported
as a typed ``Difference``; ``reconcile_window`` only reads (finance builds its monthly
reconciliation on it). ``reconcile(..., execute=True)`` repairs what can be repaired
through the same merges the webhooks use.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tortoise.transactions import in_transaction

from ncm.billing import duplicates, ledger, sync
from ncm.billing.models import (
    LIVE,
    Customer,
    DuplicateState,
    DuplicateSubscription,
    MembershipPeriod,
    PeriodSource,
    Subscription,
)
from ncm.billing.stripe import Obj, gateway
from ncm.errors import InvalidInput

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class DifferenceKind(StrEnum):
    MISSING_LOCALLY = "MISSING_LOCALLY"  # Stripe has it; the mirror or the ledger does not
    MISSING_IN_STRIPE = "MISSING_IN_STRIPE"  # a local row Stripe does not know
    MISMATCH = "MISMATCH"  # both have it; ``field`` differs
    NO_USER = "NO_USER"  # its Stripe customer is linked to no user
    DUPLICATE_LIVE = "DUPLICATE_LIVE"  # a customer with more than one live subscription
    # resolved, reported for the record: a second live subscription was cancelled at once
    # and its paid invoice refunded (``ncm.billing.duplicates``)
    DUPLICATE_REFUNDED = "DUPLICATE_REFUNDED"


class ObjectKind(StrEnum):
    INVOICE = "invoice"
    SUBSCRIPTION = "subscription"


@dataclass(frozen=True)
class Difference:
    kind: DifferenceKind
    object: ObjectKind
    stripe_id: str
    user_id: int | None
    field: str | None = None
    local: Any = None
    stripe: Any = None

    @property
    def message(self) -> str:
        what = f"{self.object.value} {self.stripe_id}"
        if self.kind == DifferenceKind.MISMATCH:
            return f"{what}: {self.field} is {self.local!r} locally, {self.stripe!r} in Stripe"
        if self.kind == DifferenceKind.MISSING_LOCALLY:
            where = "the ledger" if self.object == ObjectKind.INVOICE else "the local mirror"
            return f"{what} ({self.stripe}) is missing from {where}"
        if self.kind == DifferenceKind.MISSING_IN_STRIPE:
            return f"{what} is unknown to Stripe"
        if self.kind == DifferenceKind.DUPLICATE_LIVE:
            return f"{what}: the customer has other live subscriptions ({self.stripe})"
        if self.kind == DifferenceKind.DUPLICATE_REFUNDED:
            return (
                f"{what}: a second live subscription, resolved: cancelled at once and"
                f" {self.stripe}; kept {self.local}"
            )
        return f"{what}: no local user for Stripe customer {self.stripe!r}"


@dataclass(frozen=True)
class Repair:
    difference: Difference
    repaired: bool


def _window(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    start = since or EPOCH
    end = until or datetime.now(UTC)
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("Give the window in aware UTC times.", field="since")
    if start >= end:
        raise InvalidInput("The window's start must be before its end.", field="until")
    return start, end


def _stripe_bound(end: datetime) -> int:
    """Stripe's ``created[lt]`` in whole seconds: rounded up, so an object created earlier
    in the window's last second (a command run right after a payment) is still in it."""
    return math.ceil(end.timestamp())


async def _user_of(obj: Obj) -> int | None:
    """The local user of a Stripe object, without linking anything (read only)."""
    customer = sync.ref(obj.get("customer"))
    if customer:
        found = await Customer.filter(stripe_id=customer).first()
        if found is not None:
            return found.user_id
    sub_id = obj.get("id") if obj.get("object") == "subscription" else None
    sub_id = sub_id or sync.invoice_subscription(obj)
    if sub_id:
        local = await Subscription.filter(stripe_id=sub_id).first()
        if local is not None:
            return local.user_id
    return None


async def reconcile_window(
    since: datetime | None = None, until: datetime | None = None, *, page_size: int = 100
) -> list[Difference]:
    """Every difference between Stripe and local state for the invoices and subscriptions
    created in ``[since, until)`` (aware UTC; defaults: since 2000, until now)."""
    start, end = _window(since, until)
    found: list[Difference] = []
    found += await _invoices(start, end, page_size)
    found += await _subscriptions(start, end, page_size)
    found += await _resolved_duplicates(start, end)
    return found


async def _resolved_duplicates(start: datetime, end: datetime) -> list[Difference]:
    """Duplicates the webhooks resolved in the window, so operators see each one."""
    rows = await DuplicateSubscription.filter(resolved_at__gte=start, resolved_at__lt=end).order_by(
        "id"
    )
    return [
        Difference(
            DifferenceKind.DUPLICATE_REFUNDED,
            ObjectKind.SUBSCRIPTION,
            row.subscription_ref,
            row.user_id,
            local=row.kept_ref,
            stripe=(
                f"refunded {row.amount_refunded} {row.currency} of {row.invoice_ref}"
                if row.state == DuplicateState.REFUNDED
                else "nothing was charged"
            ),
        )
        for row in rows
    ]


async def _invoices(start: datetime, end: datetime, page_size: int) -> list[Difference]:
    stripe = gateway()
    found: list[Difference] = []
    seen: set[str] = set()
    async for inv in stripe.list_invoices(
        created_gte=int(start.timestamp()), created_lt=_stripe_bound(end), page_size=page_size
    ):
        seen.add(inv["id"])
        found += await _compare_invoice(inv)
    local = await MembershipPeriod.filter(
        source=PeriodSource.PAID, starts_at__gte=start, starts_at__lt=end
    ).exclude(reference__in=list(seen) or [""])
    for period in local:
        remote = await stripe.retrieve_invoice(period.reference)
        if remote is None:
            found.append(
                Difference(
                    DifferenceKind.MISSING_IN_STRIPE,
                    ObjectKind.INVOICE,
                    period.reference,
                    period.user_id,
                )
            )
        else:
            found += await _compare_invoice(remote)
    return found


async def _compare_invoice(inv: Obj) -> list[Difference]:
    if inv.get("status") == "draft":
        return []
    inv_id = str(inv["id"])
    period = await MembershipPeriod.filter(reference=inv_id, source=PeriodSource.PAID).first()
    user_id = period.user_id if period else await _user_of(inv)
    paid = inv.get("status") == "paid"
    amount = int(inv.get("amount_paid") or 0)
    trial_start = amount == 0 and inv.get("billing_reason") == "subscription_create"
    if not paid:
        if period is not None:
            return [_mismatch(ObjectKind.INVOICE, inv_id, user_id, "status", "paid", inv["status"])]
        return []
    if period is None:
        if trial_start or not sync.invoice_subscription(inv):
            return []  # a trial's $0 first invoice; an invoice that is not a membership
        if user_id is None:
            customer = sync.ref(inv.get("customer"))
            return [
                Difference(
                    DifferenceKind.NO_USER, ObjectKind.INVOICE, inv_id, None, stripe=customer
                )
            ]
        return [
            Difference(
                DifferenceKind.MISSING_LOCALLY,
                ObjectKind.INVOICE,
                inv_id,
                user_id,
                stripe=f"paid {amount} {str(inv.get('currency') or '').upper()}",
            )
        ]
    wanted = {"amount": amount, "currency": str(inv.get("currency") or "").upper()}
    return [
        _mismatch(ObjectKind.INVOICE, inv_id, user_id, key, getattr(period, key), value)
        for key, value in wanted.items()
        if getattr(period, key) != value
    ]


def _mismatch(
    kind: ObjectKind, stripe_id: str, user_id: int | None, field: str, local: Any, remote: Any
) -> Difference:
    return Difference(DifferenceKind.MISMATCH, kind, stripe_id, user_id, field, local, remote)


async def _subscriptions(start: datetime, end: datetime, page_size: int) -> list[Difference]:
    stripe = gateway()
    found: list[Difference] = []
    seen: set[str] = set()
    live_by_customer: dict[str, list[str]] = defaultdict(list)
    async for remote in stripe.list_subscriptions(
        created_gte=int(start.timestamp()), created_lt=_stripe_bound(end), page_size=page_size
    ):
        seen.add(remote["id"])
        if remote.get("status") in LIVE:
            live_by_customer[str(sync.ref(remote.get("customer")))].append(remote["id"])
        found += await _compare_subscription(remote)
    for customer, ids in live_by_customer.items():
        if len(ids) > 1:
            user_id = await _user_of({"customer": customer})
            found += [
                Difference(
                    DifferenceKind.DUPLICATE_LIVE,
                    ObjectKind.SUBSCRIPTION,
                    sid,
                    user_id,
                    stripe=", ".join(i for i in ids if i != sid),
                )
                for sid in ids
            ]
    local = await Subscription.filter(created_at__gte=start, created_at__lt=end).exclude(
        stripe_id__in=list(seen) or [""]
    )
    for row in local:
        fresh = await stripe.retrieve_subscription(row.stripe_id)
        if fresh is None:
            found.append(
                Difference(
                    DifferenceKind.MISSING_IN_STRIPE,
                    ObjectKind.SUBSCRIPTION,
                    row.stripe_id,
                    row.user_id,
                )
            )
        else:
            found += await _compare_subscription(fresh)
    return found


async def _compare_subscription(remote: Obj) -> list[Difference]:
    sid = str(remote["id"])
    local = await Subscription.get_or_none(stripe_id=sid)
    if local is None:
        user_id = await _user_of(remote)
        if user_id is None:
            meta = remote.get("metadata") or {}
            if not str(meta.get("ncm_user_id") or "").isdigit():
                customer = sync.ref(remote.get("customer"))
                return [
                    Difference(
                        DifferenceKind.NO_USER, ObjectKind.SUBSCRIPTION, sid, None, stripe=customer
                    )
                ]
            user_id = int(meta["ncm_user_id"])
        return [
            Difference(
                DifferenceKind.MISSING_LOCALLY,
                ObjectKind.SUBSCRIPTION,
                sid,
                user_id,
                stripe=str(remote.get("status")),
            )
        ]
    _, end = sync.subscription_period(remote)
    wanted = {
        "status": remote.get("status"),
        "cancel_at_period_end": bool(remote.get("cancel_at_period_end")),
        "current_period_end": end,
        "stripe_plan_id": sync.subscription_plan_id(remote),
    }
    return [
        _mismatch(ObjectKind.SUBSCRIPTION, sid, local.user_id, key, getattr(local, key), value)
        for key, value in wanted.items()
        if getattr(local, key) != value
    ]


async def reconcile(
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    execute: bool = False,
    page_size: int = 100,
) -> list[Repair]:
    """``reconcile_window``; with ``execute``, repair each difference Stripe can settle
    (re-read the subscription or invoice and merge it as a webhook would)."""
    differences = await reconcile_window(since, until, page_size=page_size)
    if not execute:
        return [Repair(d, False) for d in differences]
    done: dict[tuple[ObjectKind, str, bool], bool] = {}
    result = []
    for d in differences:
        key = (d.object, d.stripe_id, d.kind == DifferenceKind.DUPLICATE_LIVE)
        if key not in done:
            done[key] = await _repair(d)
        result.append(Repair(d, done[key]))
    return result


async def _repair(d: Difference) -> bool:
    if d.user_id is None or d.kind in (
        DifferenceKind.MISSING_IN_STRIPE,
        DifferenceKind.NO_USER,
        DifferenceKind.DUPLICATE_REFUNDED,  # resolved already: reported for the record
    ):
        return False
    stripe = gateway()
    async with in_transaction() as conn:
        await ledger.lock_user(conn, d.user_id)
        if d.object == ObjectKind.SUBSCRIPTION:
            fresh = await stripe.retrieve_subscription(d.stripe_id)
            if fresh is None:
                return False
            await sync.apply_subscription(conn, d.user_id, fresh)
            if d.kind == DifferenceKind.DUPLICATE_LIVE:
                # the webhooks' rule: keep the older, cancel the newer now and refund it
                await duplicates.resolve(conn, d.user_id)
            return True
        inv = await stripe.retrieve_invoice(d.stripe_id)
        if inv is None or inv.get("status") != "paid":
            return False
        if d.kind == DifferenceKind.MISMATCH:
            return False  # a recorded paid period is never rewritten; a person looks
        await sync.apply_invoice_paid(conn, d.user_id, inv)
        return True
