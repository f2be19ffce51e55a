"""GraphQL queries of the compensation domain."""

from __future__ import annotations

import strawberry

from ncm.accounts.models import User as UserModel
from ncm.compensation import service
from ncm.schema.compensation.types import CompensationGrant
from ncm.schema.context import Info


@strawberry.type
class CompensationQuery:
    pass


@strawberry.type
class CompensationViewer:
    """The viewer's compensation fields (composed into `Viewer`)."""

    model: strawberry.Private[UserModel]

    @strawberry.field(description="Grants you can claim (or soon can), soonest deadline first.")
    async def pending_grants(self, info: Info) -> list[CompensationGrant]:
        now = service.utcnow()
        return [
            CompensationGrant.from_pending(p, now)
            for p in await service.pending_grants(self.model.id, now)
        ]
