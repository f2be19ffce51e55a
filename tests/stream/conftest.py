from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

import pytest

from ncm.billing import entitlement
from ncm.billing.entitlement import Entitlement
from ncm.stream import cache, jobs, service


@pytest.fixture(autouse=True)
def fresh_playback_state() -> Iterator[None]:
    service.reset_breaker()
    cache.clear_memory()
    jobs._scheduled = False
    yield
    service.reset_breaker()
    cache.clear_memory()
    jobs._scheduled = False


class Members:
    """Who billing says is a member (the real ledger is the billing work's)."""

    def __init__(self) -> None:
        self.ids: dict[int, str] = {}
        self.calls = 0

    def add(self, user_id: int, source: str = "PAID") -> None:
        self.ids[user_id] = source

    async def entitlements(
        self, user_ids: Sequence[int], at: datetime | None = None
    ) -> dict[int, Entitlement]:
        self.calls += 1
        return {
            uid: Entitlement(
                uid, uid in self.ids, "VIP" if uid in self.ids else None, None, self.ids.get(uid)
            )
            for uid in user_ids
        }


@pytest.fixture
def members(monkeypatch: pytest.MonkeyPatch) -> Members:
    found = Members()
    monkeypatch.setattr(entitlement, "entitlements", found.entitlements)
    return found
