"""Login failures count per account (handle and email together, parallel guesses included),
and the account region (which decides licensing) changes once per 30 days, audited;
operators set it with the CLI; the edge's country header overrides it when configured."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ncm.accounts import service
from ncm.accounts.models import RegionChange, User
from ncm.errors import BadCredentials, InvalidInput, RateLimited
from tests.cli.helpers import ncm, ncm_json
from tests.conftest import STRONG_PASSWORD, GraphQLClient, login_token, make_user


async def _login(ident: str, password: str) -> Any:
    return await service.login(ident, password, client_ip="198.51.100.9")


async def test_handle_and_email_share_one_failure_count() -> None:
    await make_user("carol")
    for ident in ("carol", "Carol", "carol@example.com"):
        with pytest.raises(BadCredentials):
            await _login(ident, "wrong-pass-1")
    for _ in range(2):
        with pytest.raises(BadCredentials):
            await _login("carol@example.com", "wrong-pass-1")
    # Five failures in all: the right password is refused by handle and by email alike.
    for ident in ("carol", "carol@example.com"):
        with pytest.raises(RateLimited):
            await _login(ident, STRONG_PASSWORD)


async def test_parallel_guesses_do_not_pass_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    await make_user("dana")
    checked = 0
    real = service.verify_password

    async def counting(hash_: Any, password: str) -> bool:
        nonlocal checked
        checked += 1
        await asyncio.sleep(0.01)  # every guess is in flight at once
        return await real(hash_, password)

    monkeypatch.setattr(service, "verify_password", counting)
    results = await asyncio.gather(
        *(_login("dana", f"wrong-pass-{i}") for i in range(20)), return_exceptions=True
    )
    assert checked == 5  # only the first five guesses reached the password check
    assert sum(isinstance(r, BadCredentials) for r in results) == 5
    assert sum(isinstance(r, RateLimited) for r in results) == 15


async def test_a_success_resets_the_account_count() -> None:
    await make_user("erin")
    for _ in range(4):
        with pytest.raises(BadCredentials):
            await _login("erin@example.com", "wrong-pass-1")
    assert (await _login("erin", STRONG_PASSWORD)).user.handle == "erin"
    for _ in range(4):
        with pytest.raises(BadCredentials):
            await _login("erin", "wrong-pass-1")
    assert (await _login("erin@example.com", STRONG_PASSWORD)).user.handle == "erin"


async def test_unknown_accounts_are_counted_by_what_was_typed() -> None:
    for _ in range(5):
        with pytest.raises(BadCredentials):
            await _login("ghost", "wrong-pass-1")
    with pytest.raises(RateLimited):
        await _login("ghost", "wrong-pass-1")


REGISTER = """mutation($i: RegisterInput!) { register(input: $i) { __typename
  ... on AuthPayload { accessToken viewer { region } } ... on Error { code field } } }"""
UPDATE = """mutation($r: String) { updateProfile(input: {region: $r}) { __typename
  ... on UpdateProfilePayload { viewer { region } } ... on Error { code field message } } }"""


async def test_region_set_at_registration_then_once_per_30_days(gql: GraphQLClient) -> None:
    reg = {
        "email": "lily@example.com",
        "handle": "lily",
        "password": STRONG_PASSWORD,
        "region": "us",
    }
    body = (await gql(REGISTER, {"i": reg}))["data"]["register"]
    assert body["viewer"]["region"] == "US"
    token = body["accessToken"]
    refused = (await gql(UPDATE, {"r": "CN"}, token=token))["data"]["updateProfile"]
    assert (refused["__typename"], refused["code"], refused["field"]) == (
        "InvalidInputError",
        "REGION_CHANGE_TOO_SOON",
        "region",
    )
    same = (await gql(UPDATE, {"r": "US"}, token=token))["data"]["updateProfile"]
    assert same["viewer"]["region"] == "US"  # not a change
    user = await User.get(handle="lily")
    user.region_changed_at = datetime.now(UTC) - timedelta(days=31)
    await user.save(update_fields=["region_changed_at"])
    ok = (await gql(UPDATE, {"r": "CN"}, token=token))["data"]["updateProfile"]
    assert ok["viewer"]["region"] == "CN"
    again = (await gql(UPDATE, {"r": "HK"}, token=token))["data"]["updateProfile"]
    assert again["code"] == "REGION_CHANGE_TOO_SOON"
    log = (
        await RegionChange.filter(user_id=user.id)
        .order_by("id")
        .values_list("old_region", "new_region", "source")
    )
    assert log == [(None, "US", "registration"), ("US", "CN", "user")]


async def test_a_first_region_can_be_set_and_bad_codes_are_refused(gql: GraphQLClient) -> None:
    user = await make_user("moe")
    token = await login_token(user)
    bad = {"email": "x@example.com", "handle": "xx1", "password": STRONG_PASSWORD, "region": "XX"}
    assert (await gql(REGISTER, {"i": bad}))["data"]["register"]["field"] == "region"
    ok = (await gql(UPDATE, {"r": "TW"}, token=token))["data"]["updateProfile"]
    assert ok["viewer"]["region"] == "TW"
    assert (await gql(UPDATE, {"r": None}, token=token))["data"]["updateProfile"]["code"] == (
        "REGION_CHANGE_TOO_SOON"
    )


async def test_concurrent_region_changes_make_one_change() -> None:
    user = await make_user("zed")
    first, second = await User.get(id=user.id), await User.get(id=user.id)
    results = await asyncio.gather(
        service.update_profile(first, region="CN"),
        service.update_profile(second, region="HK"),
        return_exceptions=True,
    )
    assert sum(isinstance(r, InvalidInput) for r in results) == 1
    assert await RegionChange.filter(user_id=user.id).count() == 1


async def test_operators_set_the_region_with_the_cli() -> None:
    user = await make_user("op1", region="US")
    out = ncm_json("users", "set-region", "op1", "cn")
    assert out["region"] == "CN" and out["region_changed_at"]
    cleared = ncm_json("users", "set-region", "op1@example.com", "-")
    assert cleared["region"] is None
    log = (
        await RegionChange.filter(user_id=user.id)
        .order_by("id")
        .values_list("new_region", "source")
    )
    assert [r[0] for r in log] == ["US", "CN", None]
    assert log[1][1].startswith("operator:cli:")
    bad = ncm("users", "set-region", "op1", "XX")
    assert bad.returncode != 0 and "error" in bad.stderr.lower() + bad.stdout.lower()
    with pytest.raises(InvalidInput):  # the user's own change now waits 30 days
        await service.update_profile(await User.get(id=user.id), region="HK")


async def test_the_edge_country_header_decides_the_region_when_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import httpx

    from ncm.app import create_app
    from ncm.catalog.models import License
    from ncm.config import reset_settings
    from tests.stream.helpers import PLAYBACK, gid, track_with

    user = await make_user("roamer", region="CN")
    token = await login_token(user)
    track = await track_with()
    await License.filter(track_id=track.id).update(region="CN")

    async def ask(headers: dict[str, str]) -> dict[str, Any]:
        transport = httpx.ASGITransport(app=create_app(manage_db=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            r = await client.post(
                "/graphql",
                json={"query": PLAYBACK, "variables": {"id": gid(track.id)}},
                headers={"authorization": f"Bearer {token}", **headers},
            )
        result: dict[str, Any] = r.json()["data"]["playback"]
        return result

    # Off by default: the account region (CN) decides, whatever header a client sends.
    assert (await ask({"cf-ipcountry": "US"}))["__typename"] == "Playable"
    monkeypatch.setenv("NCM_GEO_HEADER", "CF-IPCountry")
    reset_settings()
    try:
        assert (await ask({"cf-ipcountry": "CN"}))["__typename"] == "Playable"
        abroad = await ask({"cf-ipcountry": "US"})
        assert (abroad["__typename"], abroad["region"]) == ("NotLicensedInRegion", "US")
        # No header (a request that did not come through the edge): no region at all.
        assert (await ask({}))["__typename"] == "NotLicensedInRegion"
        assert (await ask({"cf-ipcountry": "T1"}))["__typename"] == "NotLicensedInRegion"
    finally:
        monkeypatch.undo()
        reset_settings()
