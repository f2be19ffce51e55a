"""GraphQL queries of the promotion domain."""

from __future__ import annotations

import strawberry


@strawberry.type
class PromotionQuery:
    pass
