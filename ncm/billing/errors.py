"""Billing's expected failures (mapped to typed GraphQL errors in ncm/schema/billing)."""

from __future__ import annotations

from enum import StrEnum

from ncm.errors import NcmError


class PaymentProviderUnavailable(NcmError):
    """Stripe did not answer (network, timeout, 5xx, rate limit). Nothing was written
    locally; the same request can be retried and will not double-apply."""

    code = "PAYMENT_PROVIDER_UNAVAILABLE"

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

    code = "PAYMENT_DECLINED"

    def __init__(self, message: str, *, decline_code: str | None = None) -> None:
        super().__init__(message, field="paymentMethodId")
        self.decline_code = decline_code


class PaymentProviderError(NcmError):
    """Stripe rejected the request for a reason that retrying will not fix."""

    code = "PAYMENT_PROVIDER_ERROR"


class BillingNotConfigured(NcmError):
    code = "BILLING_NOT_CONFIGURED"

    def __init__(self, message: str = "Payments are not configured on this server.") -> None:
        super().__init__(message)


class InvalidSignature(NcmError):
    """A webhook whose Stripe-Signature is missing, wrong or too old."""

    code = "INVALID_SIGNATURE"


class BillingErrorCode(StrEnum):
    """Billing's error codes (declared here so the GraphQL ``ErrorCode`` enum holds them)."""

    PAYMENT_PROVIDER_UNAVAILABLE = "PAYMENT_PROVIDER_UNAVAILABLE"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    PAYMENT_PROVIDER_ERROR = "PAYMENT_PROVIDER_ERROR"
    BILLING_NOT_CONFIGURED = "BILLING_NOT_CONFIGURED"
    INVALID_SIGNATURE = "INVALID_SIGNATURE"
    IDEMPOTENCY = "IDEMPOTENCY"
    PLAN_UNAVAILABLE = "PLAN_UNAVAILABLE"
    ALREADY_SUBSCRIBED = "ALREADY_SUBSCRIBED"
    NO_SUBSCRIPTION = "NO_SUBSCRIPTION"
    SAME_PLAN = "SAME_PLAN"
    NO_CUSTOMER = "NO_CUSTOMER"
