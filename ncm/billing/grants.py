"""Operators' manual grants (``ncm billing grant``) on top of ``ledger.grant``: a reused
grant id must mean the same grant."""

from __future__ import annotations

from ncm.billing import ledger
from ncm.billing.errors import BillingErrorCode
from ncm.billing.models import MembershipPeriod
from ncm.errors import Conflict


async def admin_grant(
    user_id: int, days: int, reason: str, *, grant_id: str | None = None, operator: str = ""
) -> MembershipPeriod:
    """``ledger.grant``; re-running with the same ``grant_id`` returns the same period, and
    the same id with other ``days`` is refused with the difference (not silently the old
    grant)."""
    if grant_id:
        existing = await MembershipPeriod.filter(
            user_id=user_id, reference=f"admin:{grant_id}"
        ).first()
        if existing is not None:
            _same_days(existing, grant_id, days)
    period = await ledger.grant(user_id, days, reason, grant_id=grant_id, operator=operator)
    if grant_id:
        _same_days(period, grant_id, days)  # a concurrent run made it first
    return period


def _same_days(period: MembershipPeriod, grant_id: str, days: int) -> None:
    given = period.ends_at - period.starts_at
    if given.total_seconds() == days * 86400:
        return
    had = given.total_seconds() / 86400
    had_text = f"{had:g}"
    raise Conflict(
        f"Grant id {grant_id!r} already gave {had_text} days"
        f" ({period.starts_at:%Y-%m-%d} to {period.ends_at:%Y-%m-%d}), not {days}"
        f" ({days - had:+g} days); use a new --grant-id for another grant.",
        field="grantId",
        code=BillingErrorCode.GRANT_ID_REUSED,
    )
