"""Who is a member at a given instant: the one function playback (and anything else) reads.

CONTRACT (shared between the billing and playback work; keep the signatures stable):

- ``await entitlement(user_id, at=None) -> Entitlement``
- ``await entitlements(user_ids, at=None) -> dict[int, Entitlement]`` (one query for many)

It reads the membership ledger (``membership_periods``): a user is a member at ``at`` when a
period that is not revoked (fully refunded) covers it; ``active_until`` is the end of the
contiguous run of periods from there (a paid month followed by a grant followed by the next
paid month is one run).

Stacking (``docs/compensation.md``): PAID, TRIAL and GRACE periods are where Stripe says they
are. A gift (COMPENSATION, ADMIN_GRANT) is a number of days (``ends_at - starts_at``) available
from ``starts_at``; its days go into the first time from there that no period already covers,
gifts in the order they became available. So a gift never takes a paid day, a renewal that
arrives after the gift pushes it later instead of swallowing it, and a gift of N days always
adds exactly N days of membership.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# When several periods cover the instant, the one reported as the source.
SOURCE_RANK = {"PAID": 0, "TRIAL": 1, "GRACE": 2, "COMPENSATION": 3, "ADMIN_GRANT": 4}
# Sources that are days to add, not a stretch of time fixed by Stripe (see ``placed``).
GIFT_SOURCES = frozenset({"COMPENSATION", "ADMIN_GRANT"})


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
    ``ends_at``, ``source``, ``tier``), ignoring revoked ones the caller did not filter.
    Gifts count where ``placed`` puts them."""
    rows = sorted(r for r in placed(periods) if r[1] > at)
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


Stretch = tuple[datetime, datetime, str, Any]  # (starts_at, ends_at, source, tier)


def placed(periods: Iterable[Any]) -> list[Stretch]:
    """Where each period counts: PAID, TRIAL and GRACE as they are; each gift's days in
    the first time from its ``starts_at`` that nothing covers yet (possibly in pieces, when
    a gap is shorter than the gift), gifts in the order they became available."""
    live = [p for p in periods if _get(p, "revoked_at", None) is None]
    fixed: list[Stretch] = []
    gifts: list[tuple[datetime, timedelta, str, str, Any]] = []
    for p in live:
        start, end, source = _get(p, "starts_at"), _get(p, "ends_at"), str(_get(p, "source"))
        if end <= start:
            continue
        if source in GIFT_SOURCES:
            ref = str(_get(p, "reference", ""))
            gifts.append((start, end - start, ref, source, _get(p, "tier")))
        else:
            fixed.append((start, end, source, _get(p, "tier")))
    if not gifts:
        return fixed
    covered = _merged([(s, e) for s, e, _, _ in fixed])
    out = list(fixed)
    for start, left, _, source, tier in sorted(gifts, key=lambda g: g[:3]):
        t, pieces = start, []
        for cs, ce in covered:
            if ce <= t:
                continue
            if cs > t:
                take = min(cs - t, left)
                pieces.append((t, t + take))
                left -= take
                if not left:
                    break
            t = max(t, ce)
        if left:
            pieces.append((t, t + left))
        out.extend((s, e, source, tier) for s, e in pieces)
        covered = _merged(covered + pieces)
    return out


def _merged(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def _get(row: Any, name: str, *default: Any) -> Any:
    if isinstance(row, dict):
        return row.get(name, *default) if default else row[name]
    return getattr(row, name, *default)


async def entitlements(
    user_ids: Sequence[int], at: datetime | None = None
) -> dict[int, Entitlement]:
    from ncm.kit.sql import any_of, as_datetime, fetch

    at = at or utcnow()
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return {}
    # One query: the periods still running at ``at``, and for a user with gifts everything
    # since their first gift (where a gift lands depends on what covered the time since).
    where, params = any_of("p.user_id", ids, 1)
    gifts = ", ".join(f"'{g}'" for g in sorted(GIFT_SOURCES))
    rows = await fetch(
        "SELECT p.user_id, p.starts_at, p.ends_at, p.source, p.tier, p.reference"
        f" FROM membership_periods p WHERE {where} AND p.revoked_at IS NULL"
        f" AND (p.ends_at > ${len(params) + 1} OR p.ends_at > (SELECT MIN(g.starts_at)"
        " FROM membership_periods g WHERE g.user_id = p.user_id AND g.revoked_at IS NULL"
        f" AND g.source IN ({gifts})))",
        [*params, at],
    )
    by_user: dict[int, list[dict[str, Any]]] = {uid: [] for uid in ids}
    for row in rows:
        row["starts_at"] = as_datetime(row["starts_at"])
        row["ends_at"] = as_datetime(row["ends_at"])
        by_user[row["user_id"]].append(row)
    return {uid: resolve(uid, by_user[uid], at) for uid in ids}


async def entitlement(user_id: int, at: datetime | None = None) -> Entitlement:
    return (await entitlements([user_id], at))[user_id]
