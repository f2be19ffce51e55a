from __future__ import annotations

import strawberry

from ncm.accounts.models import User as UserModel
from ncm.billing import plans
from ncm.schema.billing.types import Membership, MembershipPlan, membership_of
from ncm.schema.context import Info


@strawberry.type
class BillingQuery:
    @strawberry.field(
        description="The membership plans on sale, cheapest first (in development without "
        "Stripe, every active plan: `startMembership` then answers BILLING_NOT_CONFIGURED)."
    )
    async def membership_plans(self, info: Info) -> list[MembershipPlan]:
        return [MembershipPlan.from_model(p) for p in await plans.plans_on_sale()]


@strawberry.type
class BillingViewer:
    """The viewer's billing fields (composed into `Viewer`)."""

    model: strawberry.Private[UserModel]

    @strawberry.field(description="Your membership: whether it is active, until when, history.")
    async def membership(self, info: Info) -> Membership:
        return await membership_of(self.model.id)
