from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import strawberry

from ncm.billing import subscriptions
from ncm.billing.errors import (
    BillingNotConfigured,
    PaymentActionRequired,
    PaymentDeclined,
    PaymentProviderError,
    PaymentProviderUnavailable,
)
from ncm.billing.subscriptions import StartMode
from ncm.schema.base import (
    ConflictError,
    Error,
    InvalidInputError,
    NotFoundError,
    error_fields,
    mutation,
    pk_of,
    register_error,
)
from ncm.schema.billing.types import Membership, membership_of
from ncm.schema.context import Info


@strawberry.type(description="The card was declined; nothing was charged or started.")
class PaymentDeclinedError(Error):
    decline_code: str | None


@strawberry.type(
    description="The bank asks the cardholder to confirm the first payment (3-D Secure). The "
    "subscription exists, incomplete: finish the payment in the app with `clientSecret` "
    "(Stripe SDK `handleNextAction`); the membership starts when Stripe reports it paid."
)
class PaymentActionRequiredError(Error):
    client_secret: str = strawberry.field(description="The payment intent's client secret.")
    payment_intent_id: str | None
    subscription_id: str = strawberry.field(description="The Stripe subscription (incomplete).")


@strawberry.type(description="The payment provider is unreachable; nothing changed. Retry.")
class PaymentProviderUnavailableError(Error):
    retry_after_seconds: int


@strawberry.type(
    name="PaymentProviderError", description="The payment provider refused the request."
)
class ProviderRejectedError(Error):
    pass


register_error(
    PaymentDeclined,
    lambda e: PaymentDeclinedError(
        decline_code=e.decline_code, code=e.code, message=e.message, field=e.field
    ),
)
register_error(
    PaymentActionRequired,
    lambda e: PaymentActionRequiredError(
        client_secret=e.client_secret,
        payment_intent_id=e.payment_intent_id,
        subscription_id=e.subscription_id,
        code=e.code,
        message=e.message,
        field=e.field,
    ),
)
register_error(
    PaymentProviderUnavailable,
    lambda e: PaymentProviderUnavailableError(
        retry_after_seconds=e.retry_after, code=e.code, message=e.message, field=e.field
    ),
)


@strawberry.type(
    description="This server takes no payments: the operator has not set `setting` "
    "(NCM_STRIPE_API_KEY). Retrying will not help; nothing was started or charged."
)
class PaymentsNotConfiguredError(Error):
    setting: str = strawberry.field(description="The setting that turns payments on.")


register_error(
    BillingNotConfigured,
    lambda e: PaymentsNotConfiguredError(setting=e.setting, **error_fields(e)),
)
register_error(
    PaymentProviderError,
    lambda e: ProviderRejectedError(code=e.code, message=e.message, field=e.field),
)


@strawberry.input
class StartMembershipInput:
    plan_id: strawberry.ID
    mode: StartMode = StartMode.CHECKOUT
    payment_method_id: str | None = strawberry.field(
        default=None, description="DIRECT: the Stripe payment method (pm_...) the app collected."
    )
    success_url: str | None = strawberry.field(default=None, description="CHECKOUT: return URL.")
    cancel_url: str | None = None
    idempotency_key: str | None = strawberry.field(
        default=None, description="Send the same key when retrying the same request."
    )


@strawberry.type
class StartMembershipPayload:
    checkout_url: str | None = strawberry.field(description="CHECKOUT: open this page to pay.")
    membership: Membership


@strawberry.type
class MembershipPayload:
    membership: Membership


@strawberry.type
class BillingPortalPayload:
    url: str


ProviderErrors = (
    PaymentProviderUnavailableError | ProviderRejectedError | PaymentsNotConfiguredError
)
StartMembershipResult = Annotated[
    StartMembershipPayload
    | InvalidInputError
    | NotFoundError
    | ConflictError
    | PaymentDeclinedError
    | PaymentActionRequiredError
    | ProviderErrors,
    strawberry.union("StartMembershipResult"),
]
MembershipResult = Annotated[
    MembershipPayload
    | InvalidInputError
    | NotFoundError
    | ConflictError
    | PaymentDeclinedError
    | ProviderErrors,
    strawberry.union("MembershipResult"),
]
BillingPortalResult = Annotated[
    BillingPortalPayload | InvalidInputError | NotFoundError | ProviderErrors,
    strawberry.union("BillingPortalResult"),
]


@strawberry.type
class BillingMutation:
    @mutation(description="Become a member: a Checkout URL, or subscribe directly.")
    async def start_membership(
        self, info: Info, input: StartMembershipInput
    ) -> StartMembershipResult:
        viewer = await info.context.viewer()
        result = await subscriptions.start_membership(
            viewer,
            pk_of(input.plan_id, "MembershipPlan", field="planId"),
            mode=input.mode,
            payment_method_id=input.payment_method_id,
            success_url=input.success_url,
            cancel_url=input.cancel_url,
            idempotency_key=input.idempotency_key,
        )
        assert viewer is not None
        return StartMembershipPayload(
            checkout_url=result.checkout_url, membership=await membership_of(viewer.id)
        )

    @mutation(description="Stop renewing; the membership lasts to the period end.")
    async def cancel_membership(self, info: Info) -> MembershipResult:
        return await _membership_call(info, subscriptions.cancel_membership)

    @mutation(description="Undo `cancelMembership` before the period ends.")
    async def resume_membership(self, info: Info) -> MembershipResult:
        return await _membership_call(info, subscriptions.resume_membership)

    @mutation(description="Switch plan now; Stripe prorates the difference.")
    async def change_plan(self, info: Info, plan_id: strawberry.ID) -> MembershipResult:
        async def call(viewer: Any) -> object:
            pk = pk_of(plan_id, "MembershipPlan", field="planId")
            return await subscriptions.change_plan(viewer, pk)

        return await _membership_call(info, call)

    @mutation(description="A Stripe billing portal page (cards, invoices).")
    async def billing_portal_url(self, info: Info, return_url: str) -> BillingPortalResult:
        viewer = await info.context.viewer()
        return BillingPortalPayload(url=await subscriptions.billing_portal_url(viewer, return_url))


async def _membership_call(
    info: Info, call: Callable[[Any], Awaitable[object]]
) -> MembershipPayload:
    """Run ``call`` for the viewer, then answer with their membership as it now stands."""
    viewer = await info.context.viewer()
    await call(viewer)
    assert viewer is not None
    return MembershipPayload(membership=await membership_of(viewer.id))
