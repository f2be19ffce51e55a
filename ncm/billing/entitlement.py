"""Who is a member at a given instant: the one function playback (and anything else) reads.

CONTRACT (shared between the billing and playback work; keep the signatures stable):

- ``await entitlement(user_id, at=None) -> Entitlement``
- ``await entitlements(user_ids, at=None) -> dict[int, Entitlement]`` (one query for many)

It reads the membership ledger (``membership_periods``): a user is a member at ``at`` when a
period that is not revoked (fully refunded) covers it; ``active_until`` is the end of the
contiguous run of periods from there (a paid month followed by a grant followed by the next
paid month is one run).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# When several periods cover the instant, the one reported as the source.
SOURCE_RANK = {"PAID": 0, "TRIAL": 1, "GRACE": 2, "COMPENSATION": 3, "ADMIN_GRANT": 4}


@dataclass(frozen=True, slots=True)
class Entitlement:
    user_id: int
    active: bool
    tier: str | None = None  # "VIP" when active
    active_until: datetime | None = None  # end of the last contiguous period covering ``at``
    source: str | None = None  # PAID, TRIAL, GRACE, COMPENSATION, ADMIN_GRANT


def utcnow() -> datetime:
    return datetime.now(UTC)


def resolve(user_id: int, periods: Iterable[Any], at: datetime) -> Entitlement:
    """The entitlement at ``at`` from a user's periods (objects or dicts with ``starts_at``,
    ``ends_at``, ``source``, ``tier``), ignoring revoked ones the caller did not filter."""
    rows = sorted(
        (_get(p, "starts_at"), _get(p, "ends_at"), str(_get(p, "source")), _get(p, "tier"))
        for p in periods
        if _get(p, "revoked_at", None) is None and _get(p, "ends_at") > at
    )
    covering = [r for r in rows if r[0] <= at < r[1]]
    if not covering:
        return Entitlement(user_id=user_id, active=False)
    best = min(covering, key=lambda r: (SOURCE_RANK.get(r[2], 99), -r[1].timestamp()))
    run_end = max(r[1] for r in covering)
    for starts_at, ends_at, _, _ in rows:  # sorted by start: extend while they touch
        if starts_at <= run_end < ends_at:
            run_end = ends_at
    return Entitlement(
        user_id=user_id, active=True, tier=best[3], active_until=run_end, source=best[2]
    )


def _get(row: Any, name: str, *default: Any) -> Any:
    if isinstance(row, dict):
        return row.get(name, *default) if default else row[name]
    return getattr(row, name, *default)


async def entitlements(
    user_ids: Sequence[int], at: datetime | None = None
) -> dict[int, Entitlement]:
    from ncm.billing.models import MembershipPeriod

    at = at or utcnow()
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return {}
    rows = await MembershipPeriod.filter(
        user_id__in=ids, ends_at__gt=at, revoked_at__isnull=True
    ).values("user_id", "starts_at", "ends_at", "source", "tier")
    by_user: dict[int, list[dict[str, Any]]] = {uid: [] for uid in ids}
    for row in rows:
        by_user[row["user_id"]].append(row)
    return {uid: resolve(uid, by_user[uid], at) for uid in ids}


async def entitlement(user_id: int, at: datetime | None = None) -> Entitlement:
    return (await entitlements([user_id], at))[user_id]
