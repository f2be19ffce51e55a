"""Accounts through the service layer: races and rules the GraphQL tests cannot reach."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import STRONG_PASSWORD, make_user


@pytest.mark.postgres_only
async def test_a_refresh_racing_logout_everywhere_leaves_no_session() -> None:
    from ncm.accounts import service
    from ncm.accounts.models import RefreshToken
    from ncm.accounts.tokens import read_access_token
    from ncm.errors import NcmError

    user = await make_user("racer")
    for _ in range(5):
        session = await service.login("racer", STRONG_PASSWORD, client_ip="127.0.0.1")
        refreshed, _ended = await asyncio.gather(
            service.refresh(session.refresh_token),
            service.logout_everywhere(user),
            return_exceptions=True,
        )
        assert not await RefreshToken.filter(user_id=user.id, revoked_at__isnull=True).exists()
        if not isinstance(refreshed, NcmError):  # the refresh won the race: its session ended
            assert not isinstance(refreshed, BaseException)
            assert read_access_token(refreshed.access_token) is None


async def test_a_partner_needs_a_real_partner_id() -> None:
    from ncm.accounts import service
    from ncm.accounts.models import Role
    from ncm.errors import InvalidInput

    user = await make_user("agent")
    for bad in (None, 0, -1):
        with pytest.raises(InvalidInput):
            await service.set_role(None, user.id, Role.PARTNER, partner_id=bad, system=True)
    changed = await service.set_role(None, user.id, Role.PARTNER, partner_id=7, system=True)
    assert changed.partner_id == 7


@pytest.mark.postgres_only
async def test_users_following_each_other_at_once_never_deadlock() -> None:
    """Each follow updates both users' counters; in id order, so mutual follows queue."""
    from ncm.accounts import service

    users = [await make_user(f"user{i}") for i in range(6)]
    for op in (service.follow, service.unfollow):
        pairs = [(a, b) for a in users for b in users if a is not b]
        results = await asyncio.gather(*(op(a, b.id) for a, b in pairs), return_exceptions=True)
        assert not [r for r in results if isinstance(r, BaseException)]
        for u in users:
            await u.refresh_from_db()
            expected = 5 if op is service.follow else 0
            assert (u.follower_count, u.following_count) == (expected, expected)
