"""Money, months and days as finance counts them.

Money is an integer number of minor units of one currency, always. Converting to a
reporting currency multiplies by a decimal rate and rounds **half away from zero** to the
reporting currency's minor unit; ratios of money (ARPPU, ARPU) round the same way to whole
minor units. Nothing is ever a float.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ncm.errors import InvalidInput
from ncm.finance.errors import FinanceErrorCode

EPOCH = date(1970, 1, 1)
MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
# ISO 4217 minor-unit exponents that are not 2.
EXPONENTS = {
    **dict.fromkeys(["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"], 0),
    **dict.fromkeys(["RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"], 0),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
}
MAX_MONTHS = 120


def exponent(currency: str) -> int:
    return EXPONENTS.get(currency, 2)


def round_half_up(value: Decimal) -> int:
    """To a whole number, halves away from zero."""
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def divide(numerator: int, denominator: int) -> int | None:
    """``numerator / denominator`` in whole minor units (half away from zero); ``None``
    when there is nothing to divide by."""
    if denominator == 0:
        return None
    return round_half_up(Decimal(numerator) / Decimal(denominator))


def ratio(numerator: int, denominator: int, places: int = 4) -> str | None:
    """A plain ratio as a decimal string (``"0.2142"``), half away from zero."""
    if denominator == 0:
        return None
    quantum = Decimal(1).scaleb(-places)
    return str((Decimal(numerator) / Decimal(denominator)).quantize(quantum, ROUND_HALF_UP))


def convert(amount: int, rate: Decimal, source: str, target: str) -> int:
    """Minor units of ``source`` as minor units of ``target`` at ``rate`` (target per source)."""
    shift = exponent(target) - exponent(source)
    return round_half_up(Decimal(amount) * rate * Decimal(10) ** shift)


def parse_currency(text: str, field: str = "currency") -> str:
    code = text.strip().upper()
    if not CURRENCY_RE.match(code):
        raise InvalidInput(
            "A currency is a three-letter ISO 4217 code like CNY.",
            field=field,
            code=FinanceErrorCode.BAD_CURRENCY,
        )
    return code


def parse_rate(text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        value = Decimal(0)
    if not value.is_finite() or value <= 0 or value > Decimal(10) ** 9:
        raise InvalidInput(
            "A rate is a positive decimal number like 0.138.",
            field="rate",
            code=FinanceErrorCode.BAD_RATE,
        )
    return value.normalize()


# months are numbered year * 12 + month - 1; days are numbered from 1970-01-01 (UTC)


def parse_month(text: str, field: str = "month") -> int:
    found = MONTH_RE.match(text.strip())
    if not found or not 1 <= int(found.group(2)) <= 12 or not 2000 <= int(found.group(1)) <= 2999:
        raise InvalidInput(
            "A month is written YYYY-MM, e.g. 2024-06.",
            field=field,
            code=FinanceErrorCode.BAD_MONTH,
        )
    return int(found.group(1)) * 12 + int(found.group(2)) - 1


def parse_range(start: str, end: str) -> tuple[int, int]:
    lo, hi = parse_month(start, "from"), parse_month(end, "to")
    if hi < lo:
        raise InvalidInput("`from` is after `to`.", field="from", code=FinanceErrorCode.BAD_RANGE)
    if hi - lo + 1 > MAX_MONTHS:
        raise InvalidInput(
            f"At most {MAX_MONTHS} months at once.", field="to", code=FinanceErrorCode.BAD_RANGE
        )
    return lo, hi


def month_name(k: int) -> str:
    return f"{k // 12:04d}-{k % 12 + 1:02d}"


def month_start(k: int) -> date:
    return date(k // 12, k % 12 + 1, 1)


def month_of(day: date) -> int:
    return day.year * 12 + day.month - 1


def day_number(day: date) -> int:
    return (day - EPOCH).days


def day_of(number: int) -> date:
    return EPOCH + timedelta(days=number)


def month_days(k: int) -> tuple[int, int]:
    """The month's days as ``[first, end)`` day numbers."""
    return day_number(month_start(k)), day_number(month_start(k + 1))
