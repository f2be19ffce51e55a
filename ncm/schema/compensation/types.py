"""GraphQL types of the compensation domain: the viewer's grants to claim."""

from __future__ import annotations

from datetime import datetime

import strawberry

from ncm.compensation.service import PendingGrant
from ncm.schema.base import Error, to_global_id


@strawberry.type(
    description="Membership days the service owes you (after an outage): claim them with "
    "`claimGrant` between `claimableFrom` and `claimUntil`."
)
class CompensationGrant:
    id: strawberry.ID
    days: int
    reason: str
    claimable_from: datetime
    claim_until: datetime
    claimable_now: bool

    @classmethod
    def from_pending(cls, p: PendingGrant, now: datetime) -> CompensationGrant:
        c = p.campaign
        return cls(
            id=to_global_id("CompensationGrant", p.grant.id),
            days=c.days,
            reason=c.reason,
            claimable_from=c.claimable_from,
            claim_until=c.claim_until,
            claimable_now=c.claimable_from <= now < c.claim_until,
        )


@strawberry.type(description="The grant cannot be claimed yet: try from `claimableFrom`.")
class NotYetClaimableError(Error):
    claimable_from: datetime | None


@strawberry.type(description="The claim window of this grant has closed.")
class ClaimWindowClosedError(Error):
    claim_until: datetime | None


@strawberry.type(description="This grant was already claimed (or applied automatically).")
class AlreadyClaimedError(Error):
    claimed_at: datetime | None
