"""Who is a member at a given instant: the one function playback (and anything else) reads.

CONTRACT (shared between the billing and playback work; keep the signatures stable):

- ``await entitlement(user_id, at=None) -> Entitlement``
- ``await entitlements(user_ids, at=None) -> dict[int, Entitlement]`` (one query for many)

Until the membership ledger lands this answers "not a member" for everyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Entitlement:
    user_id: int
    active: bool
    tier: str | None = None  # "VIP" when active
    active_until: datetime | None = None  # end of the last contiguous period covering ``at``
    source: str | None = None  # PAID, TRIAL, COMPENSATION, ADMIN_GRANT


async def entitlements(
    user_ids: Sequence[int], at: datetime | None = None
) -> dict[int, Entitlement]:
    return {uid: Entitlement(user_id=uid, active=False) for uid in user_ids}


async def entitlement(user_id: int, at: datetime | None = None) -> Entitlement:
    return (await entitlements([user_id], at))[user_id]
