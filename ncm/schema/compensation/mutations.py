"""GraphQL mutations of the compensation domain."""

from __future__ import annotations

from typing import Annotated

import strawberry

from ncm.accounts.permissions import require_viewer
from ncm.compensation import service
from ncm.compensation.errors import AlreadyClaimed, ClaimWindowClosed, NotYetClaimable
from ncm.schema.base import (
    InvalidInputError,
    NotFoundError,
    error_fields,
    mutation,
    pk_of,
    register_error,
)
from ncm.schema.billing.types import Membership, membership_of
from ncm.schema.compensation.types import (
    AlreadyClaimedError,
    ClaimWindowClosedError,
    NotYetClaimableError,
)
from ncm.schema.context import Info

register_error(
    NotYetClaimable,
    lambda e: NotYetClaimableError(claimable_from=e.at, **error_fields(e)),
)
register_error(
    ClaimWindowClosed,
    lambda e: ClaimWindowClosedError(claim_until=e.at, **error_fields(e)),
)
register_error(
    AlreadyClaimed,
    lambda e: AlreadyClaimedError(claimed_at=e.at, **error_fields(e)),
)


@strawberry.type
class ClaimGrantPayload:
    days: int
    membership: Membership = strawberry.field(description="Your membership with the days added.")


ClaimGrantResult = Annotated[
    ClaimGrantPayload
    | NotYetClaimableError
    | ClaimWindowClosedError
    | AlreadyClaimedError
    | NotFoundError
    | InvalidInputError,
    strawberry.union("ClaimGrantResult"),
]


@strawberry.type
class CompensationMutation:
    @mutation(description="Claim a grant of `viewer.pendingGrants`: its days join your membership.")
    async def claim_grant(self, info: Info, grant_id: strawberry.ID) -> ClaimGrantResult:
        viewer = require_viewer(await info.context.viewer())
        pk = pk_of(grant_id, "CompensationGrant", field="grantId")
        period = await service.claim(viewer.id, pk)
        days = (period.ends_at - period.starts_at).days
        return ClaimGrantPayload(days=days, membership=await membership_of(viewer.id))
