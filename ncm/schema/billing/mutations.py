from __future__ import annotations

import strawberry


@strawberry.type
class BillingMutation:
    pass
