"""Compare local billing state with Stripe and (with ``execute``) repair the drift.

Stripe is the source of truth for subscriptions; the ledger must hold a PAID period for
every paid latest invoice. Repairs go through the same merges the webhooks use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.transactions import in_transaction

from ncm.billing import ledger, sync
from ncm.billing.models import MembershipPeriod, Subscription
from ncm.billing.stripe import gateway


@dataclass(frozen=True)
class Drift:
    subscription: str
    user_id: int | None
    problem: str
    repaired: bool


async def reconcile(*, since: datetime | None = None, execute: bool = False) -> list[Drift]:
    stripe = gateway()
    found: list[Drift] = []
    seen: set[str] = set()
    created_gte = int(since.timestamp()) if since else None
    async for remote in stripe.list_subscriptions(created_gte=created_gte):
        seen.add(remote["id"])
        async with in_transaction() as conn:
            user_id = await sync.user_for(conn, remote)
            if user_id is None:
                found.append(Drift(remote["id"], None, "no local user for customer", False))
                continue
            problems = await _problems(remote, user_id)
            invoice_id = sync.ref(remote.get("latest_invoice"))
            invoice = None
            if invoice_id and remote.get("status") in {"active", "trialing", "past_due"}:
                has = await MembershipPeriod.filter(user_id=user_id, reference=invoice_id).exists()
                if not has:
                    invoice = await stripe.retrieve_invoice(invoice_id)
                    if invoice and invoice.get("status") == "paid":
                        problems.append(f"paid invoice {invoice_id} missing from the ledger")
                    else:
                        invoice = None
            if problems and execute:
                await ledger.lock_user(conn, user_id)
                await sync.apply_subscription(conn, user_id, remote)
                if invoice is not None:
                    await sync.apply_invoice_paid(conn, user_id, invoice)
            found += [Drift(remote["id"], user_id, p, execute) for p in problems]
    query = Subscription.exclude(stripe_id__in=list(seen)) if seen else Subscription.all()
    if since:
        query = query.filter(created_at__gte=since)
    for local in await query:
        found.append(Drift(local.stripe_id, local.user_id, "unknown to Stripe", False))
    return found


async def _problems(remote: dict[str, object], user_id: int) -> list[str]:
    local = await Subscription.get_or_none(stripe_id=str(remote["id"]))
    if local is None:
        return ["missing locally"]
    _, end = sync.subscription_period(remote)
    wanted = {
        "status": remote.get("status"),
        "cancel_at_period_end": bool(remote.get("cancel_at_period_end")),
        "current_period_end": end,
        "stripe_plan_id": sync.subscription_plan_id(remote),
    }
    return [
        f"{key}: local {getattr(local, key)!r}, Stripe {value!r}"
        for key, value in wanted.items()
        if getattr(local, key) != value
    ]
