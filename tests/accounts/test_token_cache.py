"""The per-process cache of verified access tokens (``ncm.accounts.tokens``): a token seen a
moment ago is not verified again, and still a logout, another process's logout or the
token's expiry refuses it at once."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import jwt
import pytest

from ncm.accounts import revocation, tokens
from ncm.accounts.errors import AccountsErrorCode
from ncm.config import get_settings
from tests.accounts.test_graphql_auth import REGISTER, VIEWER, register_input
from tests.conftest import GraphQLClient


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature is verified (``jwt.decode`` calls) from now on."""
    seen: list[str] = []
    real = jwt.decode

    def counting(token: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(tokens.jwt, "decode", counting)
    return seen


async def test_a_token_is_verified_once_then_served_from_the_cache(
    gql: GraphQLClient, decodes: list[str]
) -> None:
    token = (await gql(REGISTER, register_input()))["data"]["register"]["accessToken"]
    tokens.forget_verified()
    for _ in range(3):
        assert (await gql(VIEWER, token=token))["data"]["viewer"]["email"] == "alice@example.com"
    assert decodes.count(token) == 1
    assert token in tokens._verified


async def test_a_cached_token_is_refused_right_after_logout(
    gql: GraphQLClient, decodes: list[str]
) -> None:
    token = (await gql(REGISTER, register_input()))["data"]["register"]["accessToken"]
    assert (await gql(VIEWER, token=token))["data"]["viewer"] is not None
    assert token in tokens._verified  # cached before the logout
    await gql("mutation { logout { revoked } }", token=token)
    body = await gql(VIEWER, token=token, expect_errors=True)
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "SESSION_ENDED"}
    assert token in tokens._verified  # refused although cached: revocation is checked each time


async def test_a_cached_token_is_refused_once_another_process_logout_is_polled(
    gql: GraphQLClient,
) -> None:
    if get_settings().redis_url is None:
        pytest.skip("needs Redis (one process otherwise)")
    token = (await gql(REGISTER, register_input()))["data"]["register"]["accessToken"]
    await gql("mutation { logout { revoked } }", token=token)
    revocation.forget_all()  # this process plays one that has not heard of the logout
    assert (await gql(VIEWER, token=token))["data"]["viewer"] is not None
    assert token in tokens._verified
    await revocation.refresh()  # the kit poll loop's step
    body = await gql(VIEWER, token=token, expect_errors=True)
    assert body["errors"][0]["extensions"]["reason"] == "SESSION_ENDED"


async def test_a_cached_token_is_refused_once_expired(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch, decodes: list[str]
) -> None:
    monkeypatch.setattr(tokens, "VERIFIED_SECONDS", 3600.0)  # still trusted at the expiry
    token = (await gql(REGISTER, register_input()))["data"]["register"]["accessToken"]
    assert (await gql(VIEWER, token=token))["data"]["viewer"] is not None
    claims = tokens.read_access_token(token)
    assert claims is not None and token in tokens._verified
    monkeypatch.setattr(tokens.time, "time", lambda: float(claims.expires_at))  # exp itself
    calls = len(decodes)
    body = await gql(VIEWER, token=token, expect_errors=True)
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "TOKEN_EXPIRED"}
    assert len(decodes) == calls  # refused from the cached claims, not by a new verification
    assert tokens.check_access_token(token) == AccountsErrorCode.TOKEN_EXPIRED


def test_an_expired_token_is_never_cached() -> None:
    old, _ = _token(exp_offset=-1)
    assert tokens.check_access_token(old) == AccountsErrorCode.TOKEN_EXPIRED
    assert old not in tokens._verified


def test_forged_tokens_are_not_cached() -> None:
    good, _ = _token()
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    assert tokens.check_access_token(forged) == AccountsErrorCode.INVALID_TOKEN
    assert forged not in tokens._verified


def test_a_cache_entry_is_trusted_for_a_short_time_only(
    monkeypatch: pytest.MonkeyPatch, decodes: list[str]
) -> None:
    token, _ = _token()
    assert isinstance(tokens.check_access_token(token), tokens.AccessClaims)
    assert isinstance(tokens.check_access_token(token), tokens.AccessClaims)
    assert decodes.count(token) == 1
    real = tokens.time.time
    monkeypatch.setattr(tokens.time, "time", lambda: real() + tokens.VERIFIED_SECONDS + 1)
    assert isinstance(tokens.check_access_token(token), tokens.AccessClaims)
    assert decodes.count(token) == 2  # verified again


def test_a_changed_secret_verifies_again(monkeypatch: pytest.MonkeyPatch) -> None:
    token, _ = _token()
    assert isinstance(tokens.check_access_token(token), tokens.AccessClaims)
    rotated = replace(get_settings(), secret_key=get_settings().secret_key + "-rotated")
    monkeypatch.setattr(tokens, "get_settings", lambda: rotated)
    assert tokens.check_access_token(token) == AccountsErrorCode.INVALID_TOKEN


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "VERIFIED_MAX", 3)
    tokens.forget_verified()
    issued = [_token(user_id=n)[0] for n in range(1, 6)]
    for token in issued:
        assert isinstance(tokens.check_access_token(token), tokens.AccessClaims)
    assert list(tokens._verified) == issued[-3:]  # the oldest went first


def _token(user_id: int = 7, exp_offset: int | None = None) -> tuple[str, int]:
    if exp_offset is None:
        return tokens.issue_access_token(user_id, session_id=user_id)
    now = int(tokens.time.time())
    payload = {"sub": str(user_id), "sid": user_id, "iat": now - 60, "exp": now + exp_offset}
    payload["typ"] = "access"
    encoded = jwt.encode(payload, get_settings().secret_key, algorithm=tokens.ALGORITHM)
    return encoded, now + exp_offset
