"""Billing's expected failures (mapped to typed GraphQL errors in ncm/schema/billing) and
the machine-readable codes billing raises."""

from __future__ import annotations

from enum import StrEnum

from ncm.errors import NcmError


class BillingErrorCode(StrEnum):
    """Every ``code`` billing raises (GraphQL ``Error.code``, CLI messages)."""

    ALREADY_SUBSCRIBED = "ALREADY_SUBSCRIBED"  # a live subscription, or a start in progress
    CHANGE_IN_PROGRESS = "CHANGE_IN_PROGRESS"  # another plan change of the same user is running
    SAME_PLAN = "SAME_PLAN"
    PLAN_UNAVAILABLE = "PLAN_UNAVAILABLE"
    NO_SUBSCRIPTION = "NO_SUBSCRIPTION"
    NO_CUSTOMER = "NO_CUSTOMER"
    IDEMPOTENCY = "IDEMPOTENCY"
    GRANT_ID_REUSED = "GRANT_ID_REUSED"  # the same --grant-id with other days
    AMOUNT_TOO_LARGE = "AMOUNT_TOO_LARGE"
    PAYMENT_PROVIDER_UNAVAILABLE = "PAYMENT_PROVIDER_UNAVAILABLE"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    PAYMENT_ACTION_REQUIRED = "PAYMENT_ACTION_REQUIRED"
    PAYMENT_PROVIDER_ERROR = "PAYMENT_PROVIDER_ERROR"
    BILLING_NOT_CONFIGURED = "BILLING_NOT_CONFIGURED"
    INVALID_SIGNATURE = "INVALID_SIGNATURE"


class PaymentProviderUnavailable(NcmError):
    """Stripe did not answer (network, timeout, 5xx, rate limit). Nothing was written
    locally; the same request can be retried and will not double-apply."""

    code = BillingErrorCode.PAYMENT_PROVIDER_UNAVAILABLE

    def __init__(
        self,
        message: str = "The payment provider is unavailable; try again shortly.",
        *,
        retry_after: int = 30,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PaymentDeclined(NcmError):
    """The card was declined (the subscription was not started)."""

    code = BillingErrorCode.PAYMENT_DECLINED

    def __init__(self, message: str, *, decline_code: str | None = None) -> None:
        super().__init__(message, field="paymentMethodId")
        self.decline_code = decline_code


class PaymentActionRequired(NcmError):
    """The bank asks the cardholder to authenticate the first payment (3-D Secure). The
    subscription exists, incomplete; the app finishes the payment with the payment intent's
    client secret (Stripe SDK ``handleNextAction`` / ``confirmCardPayment``) and the
    membership starts when Stripe reports the invoice paid (webhook)."""

    code = BillingErrorCode.PAYMENT_ACTION_REQUIRED

    def __init__(
        self,
        *,
        client_secret: str,
        payment_intent_id: str | None,
        subscription_id: str,
        message: str = "Your bank asks you to confirm this payment.",
    ) -> None:
        super().__init__(message, field="paymentMethodId")
        self.client_secret = client_secret
        self.payment_intent_id = payment_intent_id
        self.subscription_id = subscription_id


class PaymentProviderError(NcmError):
    """Stripe rejected the request for a reason that retrying will not fix."""

    code = BillingErrorCode.PAYMENT_PROVIDER_ERROR


NOT_CONFIGURED = (
    "Payments are not configured on this server: memberships can be listed but not bought "
    "until NCM_STRIPE_API_KEY (with NCM_STRIPE_WEBHOOK_SECRET) is set."
)


class BillingNotConfigured(NcmError):
    """No Stripe key (``NCM_STRIPE_API_KEY``): nothing can be charged. The message names the
    setting that turns payments on."""

    code = BillingErrorCode.BILLING_NOT_CONFIGURED
    setting = "NCM_STRIPE_API_KEY"

    def __init__(self, message: str = NOT_CONFIGURED) -> None:
        super().__init__(message)


class InvalidSignature(NcmError):
    """A webhook whose Stripe-Signature is missing, wrong or too old (or whose payload is not
    a Stripe event)."""

    code = BillingErrorCode.INVALID_SIGNATURE
