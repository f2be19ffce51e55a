from __future__ import annotations

from typing import Any

import pytest

from ncm.accounts.models import User
from ncm.billing.models import PeriodSource
from tests.finance.helpers import active, period


async def user(handle: str, region: str | None = "CN") -> User:
    return await User.create(
        email=f"{handle}@example.com", handle=handle, password_hash="x", region=region
    )


@pytest.fixture
async def example_ledger() -> dict[str, Any]:
    """The ledger of docs/metrics.md."""
    y, m, t, r, c, listener = [await user(h) for h in ("y", "m", "t", "r", "c", "l")]
    rows = {
        "y": await period(y, "2024-01-01", "2025-01-01", 15800),
        "m1": await period(
            m, "2024-01-15", "2024-02-15", 1500, tax=85, refunded=500, charge="pi_m1"
        ),
        "m2": await period(m, "2024-02-15", "2024-03-15", 1800, tax=102),
        "m3": await period(m, "2024-05-20", "2024-06-20", 1500, charge="pi_m3"),
        "t": await period(t, "2024-01-01", "2024-01-31", source=PeriodSource.TRIAL),
        "r": await period(r, "2024-01-10", "2024-02-10", 1500, refunded=1500, revoked=True),
        "c": await period(c, "2024-01-05", "2024-01-12", source=PeriodSource.COMPENSATION),
    }
    for u in (y, m, t, r, listener):
        await active(u, "2024-01-20")
    return {"users": {"y": y, "m": m, "t": t, "r": r, "c": c, "l": listener}, "periods": rows}
