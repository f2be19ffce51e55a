"""Closing a month: its figures are stored and never change again. A refund or a late
invoice that touches a closed month shows as an adjustment in the first open month from the
one it happens in, naming the invoice and the month it adjusts. Re-opening is an admin act
with a reason, kept in the audit (and only the latest closed month can be re-opened, so an
adjustment is never counted twice).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from ncm.accounts.models import Role, User
from ncm.accounts.permissions import require_role
from ncm.billing.models import ChargeRefund, MembershipPeriod, PeriodSource
from ncm.errors import Conflict, InvalidInput
from ncm.finance import figures, rollup
from ncm.finance.errors import FinanceErrorCode
from ncm.finance.models import ClosedMonth, CloseRefund, MonthAudit
from ncm.finance.money import month_name, month_of, month_start, parse_month
from ncm.finance.recognition import counts, facts
from ncm.kit.db import is_postgres
from ncm.kit.locks import lock_for_transaction
from ncm.kit.sql import fetch


@dataclass(frozen=True)
class Adjustment:
    month: int  # the month it shows in
    adjusts: int  # the closed month whose revenue it changes
    currency: str
    amount: int  # minor units, signed
    kind: str  # late_invoice, refund
    reference: str  # the invoice (the paid period's reference)
    day: str  # when it happened (UTC day)

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "month": month_name(self.month),
            "adjusts": month_name(self.adjusts),
        }


@dataclass(frozen=True)
class Closed:
    month: str
    closed_at: datetime
    closed_by: str


def _now() -> datetime:
    return datetime.now(UTC)


async def closed_months() -> dict[int, ClosedMonth]:
    return {month_of(c.month): c for c in await ClosedMonth.all()}


def _landing(day: datetime, adjusts: int, closed: dict[int, ClosedMonth]) -> int:
    k = max(month_of(day.astimezone(UTC).date()), adjusts + 1)
    while k in closed:
        k += 1
    return k


async def adjustments(closed: dict[int, ClosedMonth] | None = None) -> list[Adjustment]:
    """Every change since closing to the revenue of every closed month, with the open month
    it lands in. Only periods that can have changed are read: those created after the close
    and those with a refund."""
    closed = await closed_months() if closed is None else closed
    found: list[Adjustment] = []
    for c, row in sorted(closed.items()):
        lo, hi = month_start(c), month_start(c + 1)
        periods = await MembershipPeriod.filter(
            source=PeriodSource.PAID,
            starts_at__lt=datetime.combine(hi, datetime.min.time(), UTC) + timedelta(days=1),
            ends_at__gt=datetime.combine(lo, datetime.min.time(), UTC) - timedelta(days=1),
        ).filter(Q(created_at__gt=row.closed_at) | Q(refunded__gt=0) | Q(revoked_at__isnull=False))
        if not periods:
            continue
        snap = {
            s.period_id: s
            for s in await CloseRefund.filter(
                month=row.month, period_id__in=[p.id for p in periods]
            )
        }
        for p in periods:
            now = _share(p.source, p.revoked_at is not None, p, p.refunded, c)
            late = p.created_at > row.closed_at
            if late:
                then = 0
            else:
                s = snap.get(p.id)
                then = _share(p.source, bool(s and s.revoked), p, s.refunded if s else 0, c)
            if now == then:
                continue
            when = p.created_at if late else await _refund_time(p)
            found.append(
                Adjustment(
                    month=_landing(when, c, closed),
                    adjusts=c,
                    currency=p.currency,
                    amount=now - then,
                    kind="late_invoice" if late else "refund",
                    reference=p.reference,
                    day=when.astimezone(UTC).date().isoformat(),
                )
            )
    return found


def _share(source: str, revoked: bool, p: MembershipPeriod, refunded: int, k: int) -> int:
    if not counts(source, revoked, p.amount, refunded):
        return 0
    return facts(p.starts_at, p.ends_at, p.amount, p.tax, refunded).in_month(k)


async def _refund_time(p: MembershipPeriod) -> datetime:
    refs = [r for r in (p.charge_ref,) if r]
    query = ChargeRefund.filter(charge_ref__in=refs) if refs else None
    found = await query.order_by("-refunded_at").first() if query is not None else None
    if found is None:
        found = await ChargeRefund.filter(invoice_ref=p.reference).order_by("-refunded_at").first()
    if found is not None:
        return found.refunded_at
    return p.revoked_at or _now()


async def close_month(month: str, *, actor: User | None = None, by: str = "") -> Closed:
    """Store the month's figures (every grouping) and the refunds known on its periods."""
    if actor is not None:
        require_role(actor, Role.FINANCE)
        by = by or f"user:{actor.id}"
    k = parse_month(month)
    if month_start(k + 1) > _now().date():
        raise InvalidInput(
            f"{month_name(k)} has not ended yet.",
            field="month",
            code=FinanceErrorCode.MONTH_NOT_OVER,
        )
    if await ClosedMonth.filter(month=month_start(k)).exists():
        raise Conflict(f"{month_name(k)} is already closed.", code=FinanceErrorCode.MONTH_CLOSED)
    closed_at = _now()
    stored: dict[str, Any] = {"by": {}}
    for group in figures.GROUPS:  # from the rollup (computed first when stale)
        stored["by"][group] = (await rollup.blocks(k, k, group)).blocks[k].to_json()
    stored["adjustments"] = [a.to_json() for a in await adjustments() if a.month == k]
    try:
        async with in_transaction() as conn:
            await lock_for_transaction(conn, "ncm.finance.close", k)
            await ClosedMonth.create(
                month=month_start(k),
                closed_at=closed_at,
                closed_by=by[:200],
                figures=json.dumps(stored, separators=(",", ":")),
                using_db=conn,
            )
            lo, hi = month_start(k), month_start(k + 1)
            margin = timedelta(days=1)
            start = datetime.combine(lo, datetime.min.time(), UTC) - margin
            end = datetime.combine(hi, datetime.min.time(), UTC) + margin
            params: list[Any] = (
                [lo, end, start]
                if is_postgres()
                else [lo.isoformat(), end.isoformat(sep=" "), start.isoformat(sep=" ")]
            )
            await fetch(
                "INSERT INTO finance_close_refunds (month, period_id, refunded, revoked)"
                " SELECT $1, id, refunded, revoked_at IS NOT NULL FROM membership_periods"
                " WHERE source = 'PAID' AND starts_at < $2 AND ends_at > $3"
                " AND (refunded > 0 OR revoked_at IS NOT NULL)",
                params,
                conn,
            )
            await MonthAudit.create(
                month=month_start(k), action="CLOSE", actor=by[:200], using_db=conn
            )
    except IntegrityError:
        raise Conflict(
            f"{month_name(k)} is already closed.", code=FinanceErrorCode.MONTH_CLOSED
        ) from None
    return Closed(month_name(k), closed_at, by)


async def reopen_month(month: str, reason: str, *, actor: User | None = None, by: str = "") -> None:
    """Re-open the latest closed month (an admin act, with a reason, audited)."""
    if actor is not None:
        require_role(actor, Role.ADMIN)
        by = by or f"user:{actor.id}"
    k = parse_month(month)
    reason = reason.strip()
    if not reason:
        raise InvalidInput(
            "Say why (the reason is kept in the audit).",
            field="reason",
            code=FinanceErrorCode.REASON_REQUIRED,
        )
    async with in_transaction() as conn:
        await lock_for_transaction(conn, "ncm.finance.close", k)
        row = await ClosedMonth.filter(month=month_start(k)).using_db(conn).first()
        if row is None:
            raise Conflict(
                f"{month_name(k)} is not closed.", code=FinanceErrorCode.MONTH_NOT_CLOSED
            )
        later = await ClosedMonth.filter(month__gt=month_start(k)).using_db(conn).exists()
        if later:
            raise Conflict(
                "A later month is closed: re-open months from the latest backwards.",
                code=FinanceErrorCode.MONTH_CLOSED,
            )
        await CloseRefund.filter(month=row.month).using_db(conn).delete()
        await row.delete(using_db=conn)
        await MonthAudit.create(
            month=row.month, action="REOPEN", actor=by[:200], reason=reason[:500], using_db=conn
        )


async def audit(month: str | None = None) -> list[MonthAudit]:
    query = MonthAudit.all()
    if month:
        query = query.filter(month=month_start(parse_month(month)))
    return await query.order_by("id")
