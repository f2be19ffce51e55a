"""GraphQL queries of the finance domain."""

from __future__ import annotations

import strawberry


@strawberry.type
class FinanceQuery:
    pass
