"""The membership ledger: periods per user, each with its source and reference.

Every writer is an idempotent insert keyed by ``(reference, user)``; a paid period is never
edited except to record refunds against it (and to be clipped when its subscription ended
early). Writers that derive from Stripe take the connection of the caller's transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from ncm.accounts.models import User
from ncm.billing.entitlement import Entitlement, resolve, utcnow
from ncm.billing.models import ChargeRefund, MembershipPeriod, PeriodSource, Subscription
from ncm.errors import InvalidInput, NotFound
from ncm.kit.db import is_postgres
from ncm.kit.locks import lock_for_transaction
from ncm.kit.sql import rows_by

MAX_GRANT_DAYS = 3660
AUTO_RENEWING = {"active", "trialing", "past_due"}


@dataclass(frozen=True)
class Membership:
    """``viewer.membership``: the entitlement now, renewal, and the whole history."""

    user_id: int
    entitlement: Entitlement
    auto_renew: bool
    subscription: Subscription | None
    periods: list[MembershipPeriod]

    @property
    def active(self) -> bool:
        return self.entitlement.active


async def membership(user_id: int, at: datetime | None = None) -> Membership:
    at = at or utcnow()
    periods = await MembershipPeriod.filter(user_id=user_id).order_by("-starts_at", "-id")
    sub = await current_subscription(user_id)
    return Membership(
        user_id=user_id,
        entitlement=resolve(user_id, periods, at),
        auto_renew=bool(sub and sub.status in AUTO_RENEWING and not sub.cancel_at_period_end),
        subscription=sub,
        periods=list(periods),
    )


async def current_subscription(user_id: int) -> Subscription | None:
    """The user's live subscription if any, else the newest one."""
    subs = await Subscription.filter(user_id=user_id).order_by("-id").limit(20)
    live = [s for s in subs if s.status not in {"canceled", "incomplete_expired"}]
    found = live or subs
    return found[0] if found else None


# manual and compensation grants --------------------------------------------------------


async def grant(
    user_id: int,
    days: int,
    reason: str,
    *,
    grant_id: str | None = None,
    operator: str = "",
    source: PeriodSource = PeriodSource.ADMIN_GRANT,
) -> MembershipPeriod:
    """Give ``days`` of membership from now: a gift, so its days count after whatever paid
    time covers now or arrives later (``entitlement.placed``), never instead of it.

    With a ``grant_id`` the call is idempotent: the same id returns the same period.
    """
    if not 1 <= days <= MAX_GRANT_DAYS:
        raise InvalidInput(f"days must be between 1 and {MAX_GRANT_DAYS}.", field="days")
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Say why (the reason is kept on the period).", field="reason")
    if not await User.filter(id=user_id).exists():
        raise NotFound("No such user.", field="user")
    prefix = "admin" if source == PeriodSource.ADMIN_GRANT else "grant"
    reference = f"{prefix}:{grant_id or uuid.uuid4().hex}"
    async with in_transaction() as conn:
        await lock_user(conn, user_id)
        existing = await MembershipPeriod.filter(user_id=user_id, reference=reference).using_db(
            conn
        )
        if existing:
            return existing[0]
        starts_at = utcnow()  # the gift is available from now; stacking places its days
        note = f"{reason} ({operator})" if operator else reason
        return await MembershipPeriod.create(
            user_id=user_id,
            source=source,
            reference=reference,
            tier="VIP",
            starts_at=starts_at,
            ends_at=starts_at + timedelta(days=days),
            note=note[:500],
            using_db=conn,
        )


async def grant_compensation(
    grant_id: str, days: int, starts_at: datetime, *, reason: str, chunk: int = 50_000
) -> int:
    """One compensation period for every user (set-based, chunked by user id, idempotent
    per ``grant_id``: re-running inserts only what is missing). Returns rows inserted."""
    if not 1 <= days <= MAX_GRANT_DAYS:
        raise InvalidInput(f"days must be between 1 and {MAX_GRANT_DAYS}.", field="days")
    conn = connections.get("default")
    reference = f"grant:{grant_id}"
    ends_at = starts_at + timedelta(days=days)
    bounds = await conn.execute_query_dict("SELECT MIN(id) AS lo, MAX(id) AS hi FROM users")
    lo, hi = bounds[0]["lo"], bounds[0]["hi"]
    if lo is None:
        return 0
    p = (lambda n: f"${n}") if is_postgres() else (lambda n: "?")
    sql = (
        "INSERT INTO membership_periods (user_id, source, reference, tier, starts_at, ends_at,"
        " amount, currency, discount, tax, refunded, note, created_at)"
        f" SELECT id, 'COMPENSATION', {p(1)}, 'VIP', {p(2)}, {p(3)}, 0, '', 0, 0, 0, {p(4)},"
        f" {p(5)} FROM users WHERE id >= {p(6)} AND id < {p(7)}"
        " ON CONFLICT (reference, user_id) DO NOTHING"
    )
    now = utcnow()
    start, inserted = int(lo), 0
    while start <= int(hi):
        params: list[Any] = [reference, starts_at, ends_at, reason[:500], now, start, start + chunk]
        inserted += await _inserted(conn, sql, params)
        start += chunk
    return inserted


async def _inserted(conn: BaseDBAsyncClient, insert: str, params: list[Any]) -> int:
    """Run an INSERT and count the rows it inserted (not those another run inserted)."""
    if is_postgres():  # the command tag's count is not exposed: count RETURNING rows
        rows = await conn.execute_query_dict(
            f"WITH ins AS ({insert} RETURNING 1) SELECT count(*) AS n FROM ins", params
        )
        return int(rows[0]["n"])
    count, _ = await conn.execute_query(insert, params)  # SQLite counts its changes
    return count


# writers driven by Stripe (inside the caller's transaction, user locked) ---------------


async def lock_user(conn: BaseDBAsyncClient, user_id: int) -> None:
    """Serialize ledger writes per user."""
    await lock_for_transaction(conn, "ncm.billing.ledger", user_id)


async def record_period(
    conn: BaseDBAsyncClient,
    *,
    user_id: int,
    source: PeriodSource,
    reference: str,
    starts_at: datetime,
    ends_at: datetime,
    tier: str = "VIP",
    amount: int = 0,
    currency: str = "",
    discount: int = 0,
    tax: int = 0,
    subscription_ref: str | None = None,
    plan_ref: str | None = None,
    charge_ref: str | None = None,
    note: str = "",
) -> MembershipPeriod | None:
    """Insert the period unless it exists; refunds already known for its charge apply."""
    if ends_at <= starts_at:
        return None
    found = await rows_by(MembershipPeriod, "reference", [reference], _of_user(user_id), conn)
    if found:
        return found[0]
    period = await MembershipPeriod.create(
        user_id=user_id,
        source=source,
        reference=reference,
        tier=tier,
        starts_at=starts_at,
        ends_at=ends_at,
        amount=amount,
        currency=currency.upper(),
        discount=discount,
        tax=tax,
        subscription_ref=subscription_ref,
        plan_ref=plan_ref,
        charge_ref=charge_ref,
        note=note[:500],
        using_db=conn,
    )
    known = (
        Q(invoice_ref=reference) | Q(charge_ref=charge_ref)
        if charge_ref
        else Q(invoice_ref=reference)
    )
    for refund in await ChargeRefund.filter(known).using_db(conn):
        await _apply_refund(conn, period, refund)
    return period


def _of_user(user_id: int) -> str:
    """The SQL condition on a period's user, for ``rows_by`` (an int: no placeholder)."""
    return f" AND user_id = {int(user_id)}"


async def record_refund(
    conn: BaseDBAsyncClient,
    *,
    charge_ref: str,
    invoice_ref: str | None,
    amount: int,
    amount_refunded: int,
    currency: str,
    fully_refunded: bool,
    refunded_at: datetime,
) -> ChargeRefund:
    """Remember the charge's cumulative refund (it only grows) and apply it to its period."""
    row = await ChargeRefund.filter(charge_ref=charge_ref).using_db(conn).first()
    if row is None:
        row = await ChargeRefund.create(
            charge_ref=charge_ref,
            invoice_ref=invoice_ref,
            amount=amount,
            amount_refunded=amount_refunded,
            currency=currency.upper(),
            fully_refunded=fully_refunded,
            refunded_at=refunded_at,
            using_db=conn,
        )
    elif amount_refunded > row.amount_refunded or (fully_refunded and not row.fully_refunded):
        row.amount_refunded = max(row.amount_refunded, amount_refunded)
        row.fully_refunded = row.fully_refunded or fully_refunded
        row.refunded_at = max(row.refunded_at, refunded_at)
        row.invoice_ref = row.invoice_ref or invoice_ref
        await row.save(using_db=conn)
    paid_by = (
        Q(charge_ref=charge_ref) | Q(reference=row.invoice_ref)
        if row.invoice_ref
        else Q(charge_ref=charge_ref)
    )
    for period in await MembershipPeriod.filter(paid_by).using_db(conn):
        await _apply_refund(conn, period, row)
    return row


async def _apply_refund(
    conn: BaseDBAsyncClient, period: MembershipPeriod, refund: ChargeRefund
) -> None:
    refunded = max(period.refunded, refund.amount_refunded)
    revoked_at = period.revoked_at
    if refund.fully_refunded or (period.amount and refunded >= period.amount):
        revoked_at = revoked_at or refund.refunded_at
    if refunded != period.refunded or revoked_at != period.revoked_at:
        period.refunded = refunded
        period.revoked_at = revoked_at
        await period.save(using_db=conn, update_fields=["refunded", "revoked_at"])


async def clip_to(conn: BaseDBAsyncClient, subscription_ref: str, ended_at: datetime) -> None:
    """A subscription that ended early (canceled now, or lapsed) stops its periods there.
    A GRACE window is not clipped: the membership lapses when the grace window ends, even
    when Stripe gives up (``customer.subscription.deleted``) before."""
    periods = await MembershipPeriod.filter(
        subscription_ref=subscription_ref,
        ends_at__gt=ended_at,
        source__in=[PeriodSource.PAID, PeriodSource.TRIAL],
    ).using_db(conn)
    for period in periods:
        period.ends_at = max(ended_at, period.starts_at)
        await period.save(using_db=conn, update_fields=["ends_at"])
