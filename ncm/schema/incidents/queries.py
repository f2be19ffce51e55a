"""GraphQL queries of the incidents domain."""

from __future__ import annotations

import strawberry

from ncm.incidents import service
from ncm.schema.context import Info
from ncm.schema.incidents.types import ServiceStatus


@strawberry.type
class IncidentsQuery:
    @strawberry.field(
        description="Open incidents and their latest message, for the apps to show instead "
        "of a vague error. Public; cached for a few seconds."
    )
    async def service_status(self, info: Info) -> ServiceStatus:
        return ServiceStatus.from_model(await service.service_status())
