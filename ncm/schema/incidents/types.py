"""GraphQL types of the incidents domain: the public service status."""

from __future__ import annotations

from datetime import datetime

import strawberry

from ncm.incidents.models import Component, IncidentStatus
from ncm.incidents.service import ServiceStatus as StatusModel
from ncm.incidents.service import StatusEntry

strawberry.enum(Component, name="ServiceComponent", description="A part of the service.")
strawberry.enum(
    IncidentStatus,
    name="IncidentStatus",
    description="DETECTED: opened automatically, not yet confirmed. OPEN: confirmed. "
    "RESOLVED: over. MERGED: folded into another incident.",
)


@strawberry.type(description="A message the operators posted about an incident.")
class IncidentMessage:
    message: str
    posted_at: datetime


@strawberry.type(description="An incident in progress, as the apps may show it.")
class ServiceIncident:
    id: strawberry.ID
    title: str
    component: Component
    status: IncidentStatus
    started_at: datetime
    latest_message: IncidentMessage | None = strawberry.field(
        description="The newest update, if any."
    )

    @classmethod
    def from_entry(cls, e: StatusEntry) -> ServiceIncident:
        i = e.incident
        return cls(
            id=strawberry.ID(str(i.id)),
            title=i.title,
            component=i.component,
            status=i.status,
            started_at=i.started_at,
            latest_message=IncidentMessage(message=e.latest.message, posted_at=e.latest.created_at)
            if e.latest
            else None,
        )


@strawberry.type(
    description="Whether the service works: the open incidents (empty when all is well). "
    "Public and cached for a few seconds."
)
class ServiceStatus:
    operational: bool
    degraded_components: list[Component]
    incidents: list[ServiceIncident]
    checked_at: datetime

    @classmethod
    def from_model(cls, s: StatusModel) -> ServiceStatus:
        return cls(
            operational=not s.incidents,
            degraded_components=s.degraded_components,
            incidents=[ServiceIncident.from_entry(e) for e in s.incidents],
            checked_at=s.checked_at,
        )
