"""GraphQL queries of the incidents domain."""

from __future__ import annotations

import strawberry


@strawberry.type
class IncidentsQuery:
    pass
