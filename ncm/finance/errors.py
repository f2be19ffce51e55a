"""Machine-readable codes of the finance domain's errors."""

from __future__ import annotations

from enum import StrEnum


class FinanceErrorCode(StrEnum):
    BAD_MONTH = "BAD_MONTH"  # not YYYY-MM, or out of range
    BAD_RANGE = "BAD_RANGE"  # from after to, or too many months
    BAD_GROUP = "BAD_GROUP"  # --by is not plan, region or currency
    BAD_CURRENCY = "BAD_CURRENCY"  # not a three-letter ISO code
    BAD_RATE = "BAD_RATE"  # not a positive decimal
    RATE_MISSING = "RATE_MISSING"  # no rate in force for a day and pair that needs one
    RATE_IN_CLOSED_MONTH = "RATE_IN_CLOSED_MONTH"  # the rate would change a closed month
    MONTH_CLOSED = "MONTH_CLOSED"  # closing a month already closed
    MONTH_NOT_CLOSED = "MONTH_NOT_CLOSED"  # re-opening a month that is open
    MONTH_NOT_OVER = "MONTH_NOT_OVER"  # closing a month that has not ended
    REASON_REQUIRED = "REASON_REQUIRED"  # re-opening needs a reason for the audit
