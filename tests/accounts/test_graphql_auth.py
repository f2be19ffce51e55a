from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ncm.accounts.errors import TOKEN_MESSAGES
from tests.conftest import STRONG_PASSWORD, GraphQLClient, login_token, make_user

REGISTER = """
mutation($input: RegisterInput!) {
  register(input: $input) {
    __typename
    ... on AuthPayload { accessToken refreshToken viewer { email role user { handle displayName } } }
    ... on Error { code message field }
  }
}"""
LOGIN = """
mutation($identifier: String!, $password: String!) {
  login(input: {identifier: $identifier, password: $password}) {
    __typename
    ... on AuthPayload { accessToken refreshToken viewer { email } }
    ... on RateLimitedError { retryAfterSeconds }
    ... on Error { code message field }
  }
}"""
VIEWER = "{ viewer { email role region language user { handle displayName avatarUrl } } }"


def register_input(**overrides: str) -> dict[str, object]:
    data = {
        "email": "Alice@Example.com",
        "handle": "Alice_1",
        "password": STRONG_PASSWORD,
        "displayName": "Alice 爱丽丝",
    }
    data.update(overrides)
    return {"input": data}


async def test_register_logs_in_and_viewer_works(gql: GraphQLClient) -> None:
    body = await gql(REGISTER, register_input())
    result = body["data"]["register"]
    assert result["__typename"] == "AuthPayload"
    assert result["viewer"]["email"] == "alice@example.com"
    assert result["viewer"]["user"] == {"handle": "alice_1", "displayName": "Alice 爱丽丝"}
    assert result["viewer"]["role"] == "LISTENER"
    me = await gql(VIEWER, token=result["accessToken"])
    assert me["data"]["viewer"]["email"] == "alice@example.com"


async def test_anonymous_viewer_is_null(gql: GraphQLClient) -> None:
    assert (await gql(VIEWER))["data"]["viewer"] is None


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"email": "not-an-email"}, "INVALID_EMAIL", "email"),
        ({"handle": "a"}, "INVALID_HANDLE", "handle"),
        ({"handle": "has space"}, "INVALID_HANDLE", "handle"),
        ({"password": "short1!"}, "WEAK_PASSWORD", "password"),
        ({"password": "onlyletterslong"}, "WEAK_PASSWORD", "password"),
        ({"password": "password123"}, "WEAK_PASSWORD", "password"),
        ({"password": "alice_1-secret-9"}, "WEAK_PASSWORD", "password"),
    ],
)
async def test_register_rejects_bad_input(
    gql: GraphQLClient, overrides: dict[str, str], code: str, field: str
) -> None:
    result = (await gql(REGISTER, register_input(**overrides)))["data"]["register"]
    assert result["__typename"] == "InvalidInputError"
    assert (result["code"], result["field"]) == (code, field)
    from ncm.accounts.models import User

    assert await User.all().count() == 0


async def test_register_duplicate_email_and_handle(gql: GraphQLClient) -> None:
    await gql(REGISTER, register_input())
    dup_email = (await gql(REGISTER, register_input(handle="other")))["data"]["register"]
    assert (dup_email["__typename"], dup_email["code"]) == ("ConflictError", "EMAIL_TAKEN")
    dup_handle = await gql(REGISTER, register_input(email="x@example.com", handle="ALICE_1"))
    assert dup_handle["data"]["register"]["code"] == "HANDLE_TAKEN"


@pytest.mark.postgres_only
async def test_concurrent_duplicate_registrations_create_one_user(gql: GraphQLClient) -> None:
    results = await asyncio.gather(*(gql(REGISTER, register_input()) for _ in range(5)))
    kinds = sorted(r["data"]["register"]["__typename"] for r in results)
    assert kinds.count("AuthPayload") == 1
    assert set(kinds) == {"AuthPayload", "ConflictError"}


async def test_login_by_email_or_handle_and_one_message_for_failures(gql: GraphQLClient) -> None:
    await make_user("bob")
    ok = (await gql(LOGIN, {"identifier": "BOB", "password": STRONG_PASSWORD}))["data"]["login"]
    assert ok["__typename"] == "AuthPayload"
    ok2 = await gql(LOGIN, {"identifier": "bob@example.com", "password": STRONG_PASSWORD})
    assert ok2["data"]["login"]["viewer"]["email"] == "bob@example.com"
    wrong = (await gql(LOGIN, {"identifier": "bob", "password": "nope-nope-1"}))["data"]["login"]
    unknown = (await gql(LOGIN, {"identifier": "ghost", "password": "nope-nope-1"}))["data"]
    assert wrong["__typename"] == unknown["login"]["__typename"] == "BadCredentialsError"
    assert wrong["message"] == unknown["login"]["message"]


async def test_login_rate_limited_per_account(gql: GraphQLClient) -> None:
    await make_user("carol")
    for _ in range(5):
        r = await gql(LOGIN, {"identifier": "carol", "password": "wrong-pass-1"})
        assert r["data"]["login"]["__typename"] == "BadCredentialsError"
    limited = await gql(LOGIN, {"identifier": "carol", "password": STRONG_PASSWORD})
    result = limited["data"]["login"]
    assert result["__typename"] == "RateLimitedError"
    assert result["code"] == "RATE_LIMITED"
    assert 0 < result["retryAfterSeconds"] <= 15 * 60


async def test_login_rate_limited_per_client_address(gql: GraphQLClient, monkeypatch) -> None:
    monkeypatch.setenv("NCM_LOGIN_IP_MAX_FAILURES", "3")
    from ncm.config import reset_settings

    reset_settings()
    try:
        for i in range(3):
            await gql(LOGIN, {"identifier": f"nobody{i}", "password": "wrong-pass-1"})
        await make_user("dave")
        r = await gql(LOGIN, {"identifier": "dave", "password": STRONG_PASSWORD})
        assert r["data"]["login"]["__typename"] == "RateLimitedError"
    finally:
        monkeypatch.delenv("NCM_LOGIN_IP_MAX_FAILURES")
        reset_settings()


async def test_successful_login_resets_account_failures(gql: GraphQLClient) -> None:
    await make_user("erin")
    for _ in range(4):
        await gql(LOGIN, {"identifier": "erin", "password": "wrong-pass-1"})
    ok = await gql(LOGIN, {"identifier": "erin", "password": STRONG_PASSWORD})
    assert ok["data"]["login"]["__typename"] == "AuthPayload"
    for _ in range(4):
        r = await gql(LOGIN, {"identifier": "erin", "password": "wrong-pass-1"})
        assert r["data"]["login"]["__typename"] == "BadCredentialsError"


REFRESH = """mutation($t: String!) { refreshSession(refreshToken: $t) {
  __typename ... on AuthPayload { accessToken refreshToken } ... on Error { code } } }"""


async def test_refresh_rotates_and_logout_revokes(gql: GraphQLClient) -> None:
    login = (await gql(REGISTER, register_input()))["data"]["register"]
    first = (await gql(REFRESH, {"t": login["refreshToken"]}))["data"]["refreshSession"]
    assert first["__typename"] == "AuthPayload"
    reused = (await gql(REFRESH, {"t": login["refreshToken"]}))["data"]["refreshSession"]
    assert (reused["__typename"], reused["code"]) == ("BadCredentialsError", "SESSION_ENDED")
    out = await gql("mutation { logout { revoked } }", token=first["accessToken"])
    assert out["data"]["logout"]["revoked"] is True
    after = (await gql(REFRESH, {"t": first["refreshToken"]}))["data"]["refreshSession"]
    assert after["__typename"] == "BadCredentialsError"


async def test_invalid_token_is_an_authentication_error(gql: GraphQLClient) -> None:
    body = await gql(VIEWER, token="forged.token.value", expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # Public fields too: a request carrying a bad token is not served as anonymous.
    public = await gql("{ genres { slug } }", token="forged.token.value", expect_errors=True)
    assert public["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert public["data"] is None


async def test_expired_access_token_is_rejected(gql: GraphQLClient, monkeypatch) -> None:
    import time

    from ncm.accounts import tokens

    user = await make_user("frank")
    real = time.time
    monkeypatch.setattr(tokens.time, "time", lambda: real() - 3600)
    old, _ = tokens.issue_access_token(user.id, 1)
    monkeypatch.setattr(tokens.time, "time", real)
    body = await gql(VIEWER, token=old, expect_errors=True)
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "TOKEN_EXPIRED"}
    assert "refreshSession" in body["errors"][0]["message"]


REFRESH_MESSAGE = """mutation($t: String!) { refreshSession(refreshToken: $t) {
  __typename ... on Error { code message } } }"""


async def test_each_refused_token_says_why_and_what_to_do(gql: GraphQLClient, http: Any) -> None:
    """A reused refresh token, a logged-out access token, a forged one and a malformed
    Authorization header each get their own message and reason (issue 19)."""
    login = (await gql(REGISTER, register_input()))["data"]["register"]
    await gql(REFRESH, {"t": login["refreshToken"]})
    reused = (await gql(REFRESH_MESSAGE, {"t": login["refreshToken"]}))["data"]["refreshSession"]
    assert reused["code"] == "SESSION_ENDED"
    assert "session has ended" in reused["message"] and "log in again" in reused["message"]
    assert "password" not in reused["message"]
    unknown = (await gql(REFRESH_MESSAGE, {"t": "no-such-token"}))["data"]["refreshSession"]
    assert unknown["code"] == "INVALID_TOKEN" and "log in again" in unknown["message"]

    await gql("mutation { logout { revoked } }", token=login["accessToken"])
    ended = await gql(VIEWER, token=login["accessToken"], expect_errors=True)
    assert ended["errors"][0]["extensions"] == {
        "code": "UNAUTHENTICATED",
        "reason": "SESSION_ENDED",
    }
    assert "session has ended" in ended["errors"][0]["message"]
    assert "refresh it" not in ended["errors"][0]["message"]

    forged = await gql(VIEWER, token="forged.token.value", expect_errors=True)
    assert forged["errors"][0]["extensions"]["reason"] == "INVALID_TOKEN"

    messages = set()
    for header in ("garbage", "Bearer", "Basic dXNlcjpwYXNz", "Token abc"):
        r = await http.post("/graphql", json={"query": VIEWER}, headers={"authorization": header})
        error = r.json()["errors"][0]
        assert error["extensions"] == {
            "code": "UNAUTHENTICATED",
            "reason": "MALFORMED_AUTHORIZATION",
        }, header
        messages.add(error["message"])
    assert messages == {
        "The Authorization header must be 'Bearer <token>' (the accessToken from login or "
        "refreshSession)."
    }
    assert len(set(TOKEN_MESSAGES.values())) == len(TOKEN_MESSAGES) == 4  # one per reason


UPDATE = """mutation($input: UpdateProfileInput!) { updateProfile(input: $input) {
  __typename ... on UpdateProfilePayload { viewer { region language user { displayName avatarUrl } } }
  ... on Error { code field message } } }"""


async def test_update_profile(gql: GraphQLClient) -> None:
    token = await login_token(await make_user("gina"))
    ok = await gql(
        UPDATE,
        {
            "input": {
                "displayName": "  Gina  G ",
                "region": "cn",
                "language": "zh-CN",
                "avatarUrl": "https://img.example.com/a.png",
            }
        },
        token=token,
    )
    viewer = ok["data"]["updateProfile"]["viewer"]
    assert viewer == {
        "region": "CN",
        "language": "zh-CN",
        "user": {"displayName": "Gina G", "avatarUrl": "https://img.example.com/a.png"},
    }
    cleared = await gql(UPDATE, {"input": {"avatarUrl": None}}, token=token)
    assert cleared["data"]["updateProfile"]["viewer"]["user"]["avatarUrl"] is None
    assert cleared["data"]["updateProfile"]["viewer"]["region"] == "CN"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("region", "XX"),
        ("language", "not a tag"),
        ("avatarUrl", "javascript:alert(1)"),
        ("displayName", "x" * 65),
    ],
)
async def test_update_profile_rejects_bad_values(
    gql: GraphQLClient, field: str, value: str
) -> None:
    token = await login_token(await make_user("hank"))
    r = (await gql(UPDATE, {"input": {field: value}}, token=token))["data"]["updateProfile"]
    assert (r["__typename"], r["field"]) == ("InvalidInputError", field)


async def test_update_profile_needs_login(gql: GraphQLClient) -> None:
    body = await gql(UPDATE, {"input": {"region": "CN"}}, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["data"] is None


async def test_logout_stops_the_access_token_at_once(gql: GraphQLClient) -> None:
    login = (await gql(REGISTER, register_input()))["data"]["register"]
    other = (await gql(LOGIN, {"identifier": "Alice_1", "password": STRONG_PASSWORD}))["data"][
        "login"
    ]
    assert (await gql(VIEWER, token=login["accessToken"]))["data"]["viewer"] is not None
    out = await gql("mutation { logout { revoked } }", token=login["accessToken"])
    assert out["data"]["logout"]["revoked"] is True
    body = await gql(VIEWER, token=login["accessToken"], expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # The other session (another device) still works.
    assert (await gql(VIEWER, token=other["accessToken"]))["data"]["viewer"] is not None


async def test_logout_everywhere_ends_every_session(gql: GraphQLClient) -> None:
    login = (await gql(REGISTER, register_input()))["data"]["register"]
    phone = (await gql(LOGIN, {"identifier": "Alice_1", "password": STRONG_PASSWORD}))["data"][
        "login"
    ]
    rotated = (await gql(REFRESH, {"t": phone["refreshToken"]}))["data"]["refreshSession"]
    everywhere = "mutation { logoutEverywhere { sessionsEnded } }"
    out = await gql(everywhere, token=login["accessToken"])
    assert out["data"]["logoutEverywhere"]["sessionsEnded"] == 2  # the first, the rotated one
    # Every access token, also the one issued before the phone's rotation, and every refresh.
    for token in (login["accessToken"], phone["accessToken"], rotated["accessToken"]):
        body = await gql(VIEWER, token=token, expect_errors=True)
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    for refresh_token in (login["refreshToken"], rotated["refreshToken"]):
        again = (await gql(REFRESH, {"t": refresh_token}))["data"]["refreshSession"]
        assert again["__typename"] == "BadCredentialsError"
    anonymous = await gql(everywhere, expect_errors=True)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_logout_reaches_other_server_processes(gql: GraphQLClient) -> None:
    """Another process learns of a logout from Redis at its next poll."""
    from ncm.accounts import revocation
    from ncm.config import get_settings

    if get_settings().redis_url is None:
        pytest.skip("needs Redis (one process otherwise)")
    login = (await gql(REGISTER, register_input()))["data"]["register"]
    await gql("mutation { logout { revoked } }", token=login["accessToken"])
    revocation.forget_all()  # now this process plays one that has not heard of it yet
    assert (await gql(VIEWER, token=login["accessToken"]))["data"]["viewer"] is not None
    await revocation.refresh()
    body = await gql(VIEWER, token=login["accessToken"], expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    await revocation.refresh()  # a later poll reads only what is new, and forgets nothing
    body = await gql(VIEWER, token=login["accessToken"], expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_an_admin_cannot_change_their_own_role(gql: GraphQLClient) -> None:
    from ncm.accounts import service
    from ncm.accounts.models import Role
    from ncm.schema.base import to_global_id

    admin = await make_user("boss", role=Role.ADMIN)
    other = await make_user("other")
    token = await login_token(admin)
    query = """mutation($id: ID!, $role: Role!) { setUserRole(userId: $id, role: $role) {
      __typename ... on Error { code } } }"""
    own = await gql(
        query,
        {"id": to_global_id("User", admin.id), "role": "LISTENER"},
        token=token,
        expect_errors=True,
    )
    assert own["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await service.get_user(admin.id)).role == Role.ADMIN
    ok = await gql(query, {"id": to_global_id("User", other.id), "role": "MODERATOR"}, token=token)
    assert ok["data"]["setUserRole"]["__typename"] != "ForbiddenError"
    assert (await service.get_user(other.id)).role == Role.MODERATOR
    # An operator may (the way out when an admin needs changing).
    await service.set_role(None, admin.id, Role.LISTENER, system=True)
    assert (await service.get_user(admin.id)).role == Role.LISTENER
