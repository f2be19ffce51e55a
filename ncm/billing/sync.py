"""Stripe objects into local state: the subscription mirror and the ledger periods.

Every function here is a merge that does not depend on the order it runs in:
- a subscription is written from a fresh read of it (the caller re-reads it from Stripe),
- a paid invoice, a trial or a grace window is an insert keyed by ``(reference, user)``,
- a refund only ever grows (``amount_refunded`` is cumulative in Stripe),
- an early end clips periods whichever of the two arrives first.

The helpers read both the older Stripe object shapes (localstripe, API versions before
2025-03) and the newer ones (periods on subscription items, invoice ``parent``).
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from ncm.billing import ledger
from ncm.billing.models import Customer, MembershipPeriod, PeriodSource, Subscription
from ncm.kit.sql import rows_by

Obj = dict[str, Any]
GRACE_DAYS = 7  # a failed renewal keeps the membership this long while Stripe retries
# Stripe customers linked to a user by the event being processed (see ``webhooks.process``).
LINKED: ContextVar[list[str] | None] = ContextVar("ncm_billing_linked", default=None)
# Tiers of Stripe plans already looked up by a batch of webhook events (one lookup per plan).
TIERS: ContextVar[dict[str, str] | None] = ContextVar("ncm_billing_tiers", default=None)


def ts(value: Any) -> datetime | None:
    """A Stripe timestamp (seconds) as a datetime; ``None`` when absent or not a plausible
    time (Stripe never sends one before 2000 or after 9999)."""
    if value in (None, "", 0):
        return None
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    if not 946_684_800 <= seconds < 253_402_300_800:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def ref(value: Any) -> str | None:
    """An id whether the field is expanded (a dict) or not (a string)."""
    if isinstance(value, dict):
        return value.get("id")
    return value or None


def user_hint(obj: Obj) -> int | None:
    """The user an object names in ``ncm_user_id`` metadata or ``client_reference_id``:
    ASCII digits only (``"٣".isdigit()`` holds too) and at most 18 of them (a bigint), else
    None (the event waits for its customer's link, as with no hint)."""
    meta = obj.get("metadata")
    raw = (meta.get("ncm_user_id") if isinstance(meta, dict) else None) or obj.get(
        "client_reference_id"
    )
    text = str(raw) if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


async def user_for(conn: BaseDBAsyncClient, obj: Obj) -> int | None:
    """The user an object belongs to: by its customer, else its ``ncm_user_id`` metadata
    (and then the customer is linked to the user)."""
    customer = ref(obj.get("customer"))
    if customer:
        found = await Customer.filter(stripe_id=customer).using_db(conn).first()
        if found:
            return found.user_id
    user_id = user_hint(obj)
    if user_id is None:
        return None
    if customer and not await Customer.filter(user_id=user_id).using_db(conn).exists():
        await Customer.create(user_id=user_id, stripe_id=customer, using_db=conn)
        linked = LINKED.get()
        if linked is not None:  # events waiting on this customer are retried after commit
            linked.append(customer)
    return user_id


async def subscription_row(conn: BaseDBAsyncClient, stripe_id: str) -> Subscription | None:
    """The local mirror of a Stripe subscription (a plain read: webhook processing makes
    several per event)."""
    found = await rows_by(Subscription, "stripe_id", [stripe_id], conn=conn)
    return found[0] if found else None


def subscription_item(sub: Obj) -> Obj:
    items = ((sub.get("items") or {}).get("data")) or []
    return items[0] if items else {}


def subscription_plan_id(sub: Obj) -> str:
    item = subscription_item(sub)
    return ref(item.get("price")) or ref(item.get("plan")) or ref(sub.get("plan")) or ""


def subscription_period(sub: Obj) -> tuple[datetime | None, datetime | None]:
    item = subscription_item(sub)
    start = sub.get("current_period_start") or item.get("current_period_start")
    end = sub.get("current_period_end") or item.get("current_period_end")
    return ts(start), ts(end)


async def apply_subscription(conn: BaseDBAsyncClient, user_id: int, sub: Obj) -> Subscription:
    """Mirror a subscription (freshly read from Stripe) and its trial; clip on early end."""
    start, end = subscription_period(sub)
    values = {
        "user_id": user_id,
        "stripe_plan_id": subscription_plan_id(sub),
        "status": str(sub.get("status") or ""),
        "current_period_start": start,
        "current_period_end": end,
        "cancel_at_period_end": bool(sub.get("cancel_at_period_end")),
        "canceled_at": ts(sub.get("canceled_at")),
        "ended_at": ts(sub.get("ended_at")),
        "trial_start": ts(sub.get("trial_start")),
        "trial_end": ts(sub.get("trial_end")),
    }
    row = await subscription_row(conn, sub["id"])
    if row is None:
        row = await Subscription.create(stripe_id=sub["id"], using_db=conn, **values)
    else:
        changed = [k for k, v in values.items() if getattr(row, k) != v]
        if changed:
            for key in changed:
                setattr(row, key, values[key])
            await row.save(using_db=conn, update_fields=[*changed, "updated_at"])
    if row.trial_start and row.trial_end:
        await ledger.record_period(
            conn,
            user_id=user_id,
            source=PeriodSource.TRIAL,
            reference=f"trial:{row.stripe_id}",
            starts_at=row.trial_start,
            ends_at=row.trial_end,
            tier=await tier_of(conn, row),
            subscription_ref=row.stripe_id,
            note="trial",
        )
    if row.ended_at:
        await ledger.clip_to(conn, row.stripe_id, row.ended_at)
    return row


async def tier_of(conn: BaseDBAsyncClient, sub: Subscription | None) -> str:
    if sub is None or not sub.stripe_plan_id:
        return "VIP"
    seen = TIERS.get()
    if seen is not None and sub.stripe_plan_id in seen:
        return seen[sub.stripe_plan_id]
    from ncm.billing.plans import plan_for_stripe_id

    plan = await plan_for_stripe_id(sub.stripe_plan_id, conn)
    tier = plan.tier if plan else "VIP"
    if seen is not None:
        seen[sub.stripe_plan_id] = tier
    return tier


def invoice_subscription(inv: Obj) -> str | None:
    found = ref(inv.get("subscription"))
    if found:
        return found
    details = ((inv.get("parent") or {}).get("subscription_details")) or {}
    return ref(details.get("subscription"))


def invoice_period(inv: Obj) -> tuple[datetime | None, datetime | None]:
    """The service period the invoice pays for: its (non-proration) subscription line."""
    lines = ((inv.get("lines") or {}).get("data")) or []
    best: tuple[int, int] | None = None
    for line in lines:
        period = line.get("period") or {}
        if line.get("proration") or not period.get("start") or not period.get("end"):
            continue
        if best is None or period["end"] > best[1]:
            best = (period["start"], period["end"])
    if best is None:
        return ts(inv.get("period_start")), ts(inv.get("period_end"))
    return ts(best[0]), ts(best[1])


def invoice_plan(inv: Obj) -> str | None:
    """The plan (price) the invoice's service-period line paid for: ``plan`` or ``price``
    (API versions before 2025-03) or ``pricing.price_details.price`` (later ones)."""
    lines = ((inv.get("lines") or {}).get("data")) or []
    best: tuple[int, str] | None = None
    for line in lines:
        period = line.get("period") or {}
        if line.get("proration") or not period.get("end"):
            continue
        details = ((line.get("pricing") or {}).get("price_details")) or {}
        found = ref(line.get("plan")) or ref(line.get("price")) or ref(details.get("price"))
        if found and (best is None or period["end"] > best[0]):
            best = (period["end"], found)
    return best[1] if best else None


def invoice_payment_intent(inv: Obj) -> str | None:
    """The invoice's payment intent: ``payment_intent`` (API versions before 2025-03) or
    its ``payments`` (later ones)."""
    pi = ref(inv.get("payment_intent"))
    if pi:
        return pi
    for payment in ((inv.get("payments") or {}).get("data")) or []:
        found = ref((payment.get("payment") or {}).get("payment_intent"))
        if found:
            return found
    return None


def invoice_payment_ref(inv: Obj) -> str | None:
    """What a refund names the payment by: the payment intent, else the charge."""
    pi = invoice_payment_intent(inv)
    if pi:
        return pi
    charge = inv.get("charge")
    if isinstance(charge, dict) and charge.get("payment_intent"):
        return ref(charge["payment_intent"])
    return ref(charge)


def _sum(items: Any) -> int:
    return sum(int(i.get("amount") or 0) for i in items or [])


async def apply_invoice_paid(
    conn: BaseDBAsyncClient, user_id: int, inv: Obj
) -> MembershipPeriod | None:
    """A paid invoice is a PAID period for the service period it covers."""
    start, end = invoice_period(inv)
    if start is None or end is None:
        return None
    if int(inv.get("amount_paid") or 0) == 0 and inv.get("billing_reason") == "subscription_create":
        return None  # the $0 first invoice of a trial: the TRIAL period covers it
    sub_ref = invoice_subscription(inv)
    sub = await subscription_row(conn, sub_ref) if sub_ref else None
    tax = inv.get("tax")
    period = await ledger.record_period(
        conn,
        user_id=user_id,
        source=PeriodSource.PAID,
        reference=inv["id"],
        starts_at=start,
        ends_at=end,
        tier=await tier_of(conn, sub),
        amount=int(inv.get("amount_paid") or 0),
        currency=str(inv.get("currency") or ""),
        discount=_sum(inv.get("total_discount_amounts")),
        tax=int(tax)
        if tax is not None
        else _sum(inv.get("total_taxes") or inv.get("total_tax_amounts")),
        subscription_ref=sub_ref,
        plan_ref=invoice_plan(inv) or (sub.stripe_plan_id if sub is not None else None),
        charge_ref=invoice_payment_ref(inv),
        note=str(inv.get("number") or ""),
    )
    if sub is not None and sub.ended_at:
        await ledger.clip_to(conn, sub.stripe_id, sub.ended_at)
    return period


async def apply_invoice_failed(conn: BaseDBAsyncClient, user_id: int, inv: Obj) -> None:
    """A failed renewal opens a grace window from the new period's start; a failed first
    payment grants nothing."""
    if inv.get("billing_reason") != "subscription_cycle":
        return
    start, _ = invoice_period(inv)
    if start is None:
        return
    sub_ref = invoice_subscription(inv)
    sub = await subscription_row(conn, sub_ref) if sub_ref else None
    await ledger.record_period(
        conn,
        user_id=user_id,
        source=PeriodSource.GRACE,
        reference=f"grace:{inv['id']}",
        starts_at=start,
        ends_at=start + timedelta(days=GRACE_DAYS),
        tier=await tier_of(conn, sub),
        subscription_ref=sub_ref,
        note="renewal failed; Stripe is retrying",
    )
    if sub is not None and sub.ended_at:
        await ledger.clip_to(conn, sub.stripe_id, sub.ended_at)


async def apply_charge_refunded(conn: BaseDBAsyncClient, charge: Obj) -> None:
    payment = ref(charge.get("payment_intent")) or charge["id"]
    await ledger.record_refund(
        conn,
        charge_ref=payment,
        invoice_ref=ref(charge.get("invoice")),
        amount=int(charge.get("amount") or 0),
        amount_refunded=int(charge.get("amount_refunded") or 0),
        currency=str(charge.get("currency") or ""),
        fully_refunded=bool(charge.get("refunded")),
        refunded_at=_refund_time(charge),
    )


def _refund_time(charge: Obj) -> datetime:
    refunds = ((charge.get("refunds") or {}).get("data")) or []
    times = [r["created"] for r in refunds if r.get("created")]
    found = ts(max(times)) if times else ts(charge.get("created"))
    return found or datetime.now(UTC)
