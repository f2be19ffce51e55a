"""Exchange rates finance keeps: ``rate`` units of ``quote`` per unit of ``base``, in force
from ``valid_from`` (a UTC day) until the pair's next rate. A day without a rate in force is
an error naming the day and the pair, never a silent zero."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ncm.errors import InvalidInput, NotFound
from ncm.finance.errors import FinanceErrorCode
from ncm.finance.models import ClosedMonth, Rate
from ncm.finance.money import month_name, month_of, month_start, parse_currency, parse_rate


@dataclass(frozen=True)
class RateInForce:
    base: str
    quote: str
    valid_from: date
    rate: Decimal


async def set_rate(
    base: str, quote: str, rate: str, valid_from: date, *, set_by: str = ""
) -> RateInForce:
    """Set (or correct) the pair's rate from ``valid_from``. Refused when it would change the
    rate in force on a day of a closed month."""
    base, quote = parse_currency(base, "base"), parse_currency(quote, "quote")
    if base == quote:
        raise InvalidInput(
            "A rate converts between two different currencies.",
            field="quote",
            code=FinanceErrorCode.BAD_CURRENCY,
        )
    value = parse_rate(rate)
    later = (
        await Rate.filter(base=base, quote=quote, valid_from__gt=valid_from)
        .order_by("valid_from")
        .first()
    )
    until = later.valid_from if later else None
    closed = ClosedMonth.filter(month__gte=month_start(month_of(valid_from)))
    if until is not None:
        closed = closed.filter(month__lt=until)
    hit = await closed.order_by("month").first()
    if hit is not None:
        raise InvalidInput(
            f"{month_name(month_of(hit.month))} is closed; a rate in force on its days cannot"
            " change (re-open it first).",
            field="from",
            code=FinanceErrorCode.RATE_IN_CLOSED_MONTH,
        )
    await Rate.update_or_create(
        base=base,
        quote=quote,
        valid_from=valid_from,
        defaults={"rate": str(value), "set_by": set_by[:200]},
    )
    return RateInForce(base, quote, valid_from, value)


async def list_rates(base: str | None = None, quote: str | None = None) -> list[RateInForce]:
    query = Rate.all()
    if base:
        query = query.filter(base=parse_currency(base, "base"))
    if quote:
        query = query.filter(quote=parse_currency(quote, "quote"))
    rows = await query.order_by("base", "quote", "valid_from")
    return [RateInForce(r.base, r.quote, r.valid_from, Decimal(r.rate)) for r in rows]


class RateBook:
    """The rates of the pairs a report needs, answering ``rate(base, quote, day)``."""

    def __init__(self, rates: list[RateInForce]) -> None:
        self._pairs: dict[tuple[str, str], tuple[list[date], list[Decimal]]] = {}
        for r in rates:
            days, values = self._pairs.setdefault((r.base, r.quote), ([], []))
            days.append(r.valid_from)
            values.append(r.rate)

    @classmethod
    async def load(cls, quote: str) -> RateBook:
        return cls(await list_rates(quote=quote))

    def rate(self, base: str, quote: str, day: date) -> Decimal:
        if base == quote:
            return Decimal(1)
        found = self._pairs.get((base, quote))
        if found:
            at = bisect.bisect_right(found[0], day) - 1
            if at >= 0:
                return found[1][at]
        raise NotFound(
            f"No {base}->{quote} rate is in force on {day.isoformat()}: set one with"
            f" `ncm finance rates set {base} {quote} <rate> --from <day>`.",
            field="currency",
            code=FinanceErrorCode.RATE_MISSING,
        )


async def rate_on(base: str, quote: str, day: date) -> Decimal:
    return (await RateBook.load(parse_currency(quote))).rate(parse_currency(base), quote, day)
