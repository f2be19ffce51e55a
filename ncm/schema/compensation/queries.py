"""GraphQL queries of the compensation domain."""

from __future__ import annotations

import strawberry


@strawberry.type
class CompensationQuery:
    pass
