"""Reconciliation of a month's paid invoices: the ledger's PAID periods against Stripe's
paid invoices (listed through the one Stripe wrapper, page by page). Every difference is
listed: missing on either side, amount, currency and refund."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ncm.billing import stripe as stripe_api
from ncm.billing import sync
from ncm.billing.models import MembershipPeriod, PeriodSource
from ncm.finance.money import month_name, month_start, parse_month

CHUNK = 1000


@dataclass(frozen=True)
class Difference:
    kind: str  # missing_in_ledger, missing_in_stripe, amount, currency, refund
    invoice: str
    user_id: int | None
    ledger: Any
    stripe: Any

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "invoice": self.invoice,
            "user_id": self.user_id,
            "ledger": self.ledger,
            "stripe": self.stripe,
        }


@dataclass(frozen=True)
class Reconciliation:
    month: str
    stripe_invoices: int
    ledger_periods: int
    differences: list[Difference]


def _ts(k: int) -> int:
    return int(datetime.combine(month_start(k), datetime.min.time(), UTC).timestamp())


async def reconcile_month(month: str) -> Reconciliation:
    k = parse_month(month)
    gw = stripe_api.gateway()
    start, end = _ts(k), _ts(k + 1)
    remote: dict[str, dict[str, Any]] = {}
    async for inv in stripe_api.list_paid_invoices(gw, created_gte=start, created_lt=end):
        if int(inv.get("amount_paid") or 0) == 0 and inv.get("billing_reason") == (
            "subscription_create"
        ):
            continue  # a trial's 0 invoice: the ledger records a TRIAL period instead
        remote[inv["id"]] = inv
    refunds: dict[str, int] = defaultdict(int)
    async for refund in stripe_api.list_refunds(gw, created_gte=start):
        if refund.get("status") in ("succeeded", "pending", None):
            payment = sync.ref(refund.get("payment_intent")) or sync.ref(refund.get("charge"))
            if payment:
                refunds[payment] += int(refund.get("amount") or 0)
    lo = datetime.combine(month_start(k), datetime.min.time(), UTC)
    hi = datetime.combine(month_start(k + 1), datetime.min.time(), UTC)
    local: dict[str, MembershipPeriod] = {
        p.reference: p
        for p in await MembershipPeriod.filter(
            source=PeriodSource.PAID, starts_at__gte=lo, starts_at__lt=hi
        )
    }
    wanted = [ref for ref in remote if ref not in local]
    for at in range(0, len(wanted), CHUNK):
        for p in await MembershipPeriod.filter(
            source=PeriodSource.PAID, reference__in=wanted[at : at + CHUNK]
        ):
            local[p.reference] = p
    found: list[Difference] = []
    for ref, inv in sorted(remote.items()):
        mine = local.get(ref)
        if mine is None:
            found.append(Difference("missing_in_ledger", ref, None, None, inv.get("amount_paid")))
            continue
        found += _compare(mine, inv, refunds)
    for ref, p in sorted(local.items()):
        if ref in remote:
            continue
        theirs = await gw.retrieve_invoice(ref)
        if theirs is not None and theirs.get("status") == "paid":
            continue  # paid in Stripe, created in another month: that month's reconciliation
        status = theirs.get("status") if theirs else None
        found.append(Difference("missing_in_stripe", ref, p.user_id, p.amount, status))
    return Reconciliation(month_name(k), len(remote), len(local), found)


def _compare(p: MembershipPeriod, inv: dict[str, Any], refunds: dict[str, int]) -> list[Difference]:
    out = []
    amount = int(inv.get("amount_paid") or 0)
    if amount != p.amount:
        out.append(Difference("amount", p.reference, p.user_id, p.amount, amount))
    currency = str(inv.get("currency") or "").upper()
    if currency != p.currency:
        out.append(Difference("currency", p.reference, p.user_id, p.currency, currency))
    payment = sync.invoice_payment_ref(inv) or p.charge_ref
    refunded = refunds.get(payment, 0) if payment else 0
    if refunded != p.refunded:
        out.append(Difference("refund", p.reference, p.user_id, p.refunded, refunded))
    return out
