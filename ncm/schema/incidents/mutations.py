"""GraphQL mutations of the incidents domain."""

from __future__ import annotations

import strawberry


@strawberry.type
class IncidentsMutation:
    pass
