"""Billing's expected failures (mapped to typed GraphQL errors in ncm/schema/billing)."""

from __future__ import annotations

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
