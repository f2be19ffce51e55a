from __future__ import annotations

from collections.abc import AsyncIterator

import pytest


@pytest.fixture(autouse=True)
async def fresh_promotion_state() -> AsyncIterator[None]:
    """Each test starts with no live set, pacing state, pending counts or cached profiles
    (the tables and Redis are emptied by the suite's own fixture)."""
    from ncm.promotion import live, profiles, tracking

    live.reset()
    tracking.reset()
    profiles.forget()
    yield
    live.reset()
    tracking.reset()
    profiles.forget()
