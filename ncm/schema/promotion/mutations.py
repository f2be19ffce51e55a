"""GraphQL mutations of the promotion domain."""

from __future__ import annotations

import strawberry


@strawberry.type
class PromotionMutation:
    pass
