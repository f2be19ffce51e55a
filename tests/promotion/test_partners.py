"""Partners and keys through GraphQL: every partner query and mutation tried across two
partners, API keys (shown once, hashed, scoped, revocable) as bearer tokens."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from ncm.accounts.models import Role
from ncm.promotion.keys import hash_key
from ncm.promotion.models import PartnerApiKey
from ncm.schema.base import to_global_id
from tests.conftest import GraphQLClient, login_token, make_user
from tests.promotion.helpers import live_campaign, partner, partner_user

CAMPAIGN_FIELDS = "id name status partner { code } audit { action fromStatus toStatus }"
CREATE = (
    "mutation($input: CampaignInput!) { createCampaign(input: $input) { __typename "
    "... on CampaignPayload { campaign { " + CAMPAIGN_FIELDS + " } } "
    "... on Error { code message field } } }"
)


def campaign_input(**overrides: Any) -> dict[str, Any]:
    values = {
        "name": "KKBOX tour",
        "kind": "CONCERT_TOUR",
        "objectKind": "LINK",
        "linkUrl": "https://kkbox.example.com/t",
        "title": "Tour",
        "eventAt": "2030-01-01T20:00:00",
        "venue": "Taipei Arena",
        "placements": ["HOME_BANNER", "DISCOVER_FEED"],
        "regions": ["TW", "HK"],
        "startsAt": "2020-01-01T00:00:00",
        "endsAt": "2099-01-01T00:00:00",
        "timeZone": "Asia/Taipei",
        "bookedImpressions": 1000,
    }
    values.update(overrides)
    return values


async def _step(
    gql: GraphQLClient, name: str, cid: str, token: str, **extra: str
) -> dict[str, Any]:
    args = "".join(f', {k}: "{v}"' for k, v in extra.items())
    body = await gql(
        f'mutation {{ {name}(id: "{cid}"{args}) {{ __typename '
        "... on CampaignPayload { campaign { status } } ... on Error { code } } }",
        token=token,
    )
    return body["data"][name]  # type: ignore[no-any-return]


async def test_partner_users_see_only_their_own(gql: GraphQLClient) -> None:
    kkbox, other = await partner("KKBOX"), await partner("JOOX")
    alice = await login_token(await partner_user(kkbox, "alice"))
    bob = await login_token(await partner_user(other, "bob"))
    admin = await login_token(await make_user("root", role=Role.ADMIN))

    made = await gql(CREATE, {"input": campaign_input()}, token=alice)
    c = made["data"]["createCampaign"]["campaign"]
    assert c["status"] == "DRAFT" and c["partner"]["code"] == "KKBOX"
    cid = c["id"]
    # A partner cannot create for another partner.
    forged = await gql(
        CREATE,
        {"input": campaign_input(partnerId=to_global_id("Partner", kkbox.id))},
        token=bob,
        expect_errors=True,
    )
    assert forged["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # Queries: bob sees nothing of KKBOX's.
    listed = "{ promotionCampaigns { nodes { id } } promotionPartners { code } }"
    assert (await gql(listed, token=bob))["data"] == {
        "promotionCampaigns": {"nodes": []},
        "promotionPartners": [{"code": "JOOX"}],
    }
    mine = (await gql(listed, token=alice))["data"]
    assert [n["id"] for n in mine["promotionCampaigns"]["nodes"]] == [cid]
    kk = to_global_id("Partner", kkbox.id)
    other_list = await gql(
        f'{{ promotionCampaigns(partnerId: "{kk}") {{ nodes {{ id }} }} }}', token=bob
    )
    assert other_list["data"]["promotionCampaigns"]["nodes"] == []
    one = f'{{ promotionCampaign(id: "{cid}") {{ id }} }}'
    assert (await gql(one, token=bob))["data"]["promotionCampaign"] is None
    assert (await gql(one, token=alice))["data"]["promotionCampaign"]["id"] == cid
    today = date.today()
    rng = f'from: "{today - timedelta(days=1)}", to: "{today}"'
    report = await gql(
        f'{{ campaignReport(campaignId: "{cid}", {rng}) {{ total {{ impressions }} }} }}',
        token=bob,
        expect_errors=True,
    )
    assert report["data"] is None
    bob_partner = await gql(
        f'{{ partnerReport({rng}, partnerId: "{kk}") {{ campaign {{ id }} }} }}',
        token=bob,
        expect_errors=True,
    )
    assert bob_partner["data"] is None
    own = await gql(f"{{ partnerReport({rng}) {{ campaign {{ id }} }} }}", token=alice)
    assert [r["campaign"]["id"] for r in own["data"]["partnerReport"]] == [cid]
    keys_q = await gql(
        f'{{ partnerApiKeys(partnerId: "{kk}") {{ id }} }}', token=alice, expect_errors=True
    )
    assert keys_q["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # Mutations: every step on another partner's campaign is "not found".
    for name in ("submitCampaign", "pauseCampaign", "resumeCampaign", "endCampaign"):
        assert (await _step(gql, name, cid, bob))["code"] == "CAMPAIGN_NOT_FOUND", name
    edit = await gql(
        """mutation($id: ID!, $input: CampaignInput!) { updateCampaign(id: $id, input: $input) {
        __typename ... on Error { code } } }""",
        {"id": cid, "input": campaign_input(name="hijacked")},
        token=bob,
    )
    assert edit["data"]["updateCampaign"]["code"] == "CAMPAIGN_NOT_FOUND"
    # Operators' steps are not for partners, even on their own campaigns.
    assert (await _step(gql, "submitCampaign", cid, alice))["campaign"]["status"] == "SUBMITTED"
    for name, extra in (("approveCampaign", {}), ("rejectCampaign", {"note": "no"})):
        denied = await gql(
            f'mutation {{ {name}(id: "{cid}"'
            + "".join(f', {k}: "{v}"' for k, v in extra.items())
            + ") { __typename } }",
            token=alice,
            expect_errors=True,
        )
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN", name
    for mutation in (
        'createPromotionPartner(code: "X1", name: "x") { __typename }',
        f'createPartnerApiKey(partnerId: "{kk}", name: "k") {{ __typename }}',
        f'revokePartnerApiKey(id: "{to_global_id("PartnerApiKey", 1)}") {{ __typename }}',
    ):
        denied = await gql(f"mutation {{ {mutation} }}", token=alice, expect_errors=True)
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN", mutation

    # The operator approves; the audit trail has every step with who did it.
    approved = await _step(gql, "approveCampaign", cid, admin)
    assert approved["campaign"]["status"] == "LIVE"
    audit = await gql(f'{{ promotionCampaign(id: "{cid}") {{ {CAMPAIGN_FIELDS} }} }}', token=admin)
    steps = audit["data"]["promotionCampaign"]["audit"]
    assert [(s["action"], s["fromStatus"], s["toStatus"]) for s in steps] == [
        ("create", None, "DRAFT"),
        ("submit", "DRAFT", "SUBMITTED"),
        ("approve", "SUBMITTED", "APPROVED"),
        ("go_live", "APPROVED", "LIVE"),
    ]
    assert (await _step(gql, "pauseCampaign", cid, bob))["code"] == "CAMPAIGN_NOT_FOUND"
    assert (await _step(gql, "pauseCampaign", cid, alice))["campaign"]["status"] == "PAUSED"
    assert (await _step(gql, "resumeCampaign", cid, alice))["campaign"]["status"] == "LIVE"


async def test_listeners_and_anonymous_may_not_manage(gql: GraphQLClient) -> None:
    listener = await login_token(await make_user("carol"))
    for query in ("{ promotionPartners { code } }", "{ promotionCampaigns { nodes { id } } }"):
        body = await gql(query, token=listener, expect_errors=True)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        body = await gql(query, expect_errors=True)
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_api_keys_shown_once_hashed_scoped_revocable(gql: GraphQLClient) -> None:
    kkbox, other = await partner("KKBOX"), await partner("JOOX")
    admin = await login_token(await make_user("root", role=Role.ADMIN))
    kk = to_global_id("Partner", kkbox.id)
    made = await gql(
        f'mutation {{ createPartnerApiKey(partnerId: "{kk}", name: "reporting") {{ __typename '
        "... on PartnerApiKeyCreatedPayload { secret key { id prefix revokedAt } } } }",
        token=admin,
    )
    payload = made["data"]["createPartnerApiKey"]
    secret = payload["secret"]
    assert secret.startswith("ncmpk_") and len(secret) > 40
    stored = await PartnerApiKey.get()
    assert stored.key_hash == hash_key(secret) and secret not in stored.key_hash
    assert secret.startswith(stored.prefix)
    listed = await gql(f'{{ partnerApiKeys(partnerId: "{kk}") {{ id name prefix }} }}', token=admin)
    assert (
        "secret" not in str(listed) and listed["data"]["partnerApiKeys"][0]["name"] == "reporting"
    )

    ours = await live_campaign(kkbox)
    theirs = await live_campaign(other, name="JOOX thing")
    body = await gql(
        "{ promotionCampaigns { nodes { id } } promotionPartners { code } }", token=secret
    )
    assert body["data"]["promotionCampaigns"]["nodes"] == [
        {"id": to_global_id("Campaign", ours.id)}
    ]
    assert body["data"]["promotionPartners"] == [{"code": "KKBOX"}]
    hidden = await gql(
        f'{{ promotionCampaign(id: "{to_global_id("Campaign", theirs.id)}") {{ id }} }}',
        token=secret,
    )
    assert hidden["data"]["promotionCampaign"] is None
    # The key can pause its own partner's campaign, and is audited as the key.
    paused = await _step(gql, "pauseCampaign", to_global_id("Campaign", ours.id), secret)
    assert paused["campaign"]["status"] == "PAUSED"
    # A key is not a user: the rest of the API sees an anonymous request.
    me = await gql("{ viewer { id } }", token=secret, expect_errors=True)
    assert me.get("data", {}) is None or me["data"]["viewer"] is None

    revoked = await gql(
        f'mutation {{ revokePartnerApiKey(id: "{payload["key"]["id"]}") {{ __typename '
        "... on PartnerApiKeyPayload { key { revokedAt } } } }",
        token=admin,
    )
    assert revoked["data"]["revokePartnerApiKey"]["key"]["revokedAt"] is not None
    after = await gql("{ promotionPartners { code } }", token=secret, expect_errors=True)
    assert after["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    forged = await gql("{ promotionPartners { code } }", token="ncmpk_forged", expect_errors=True)
    assert forged["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_partner_codes_are_unique_and_checked(gql: GraphQLClient) -> None:
    admin = await login_token(await make_user("root", role=Role.ADMIN))
    q = 'mutation($c: String!) { createPromotionPartner(code: $c, name: "KKBOX") { __typename ... on Error { code field } ... on PartnerPayload { partner { code databaseId } } } }'
    first = await gql(q, {"c": "kkbox"}, token=admin)
    assert first["data"]["createPromotionPartner"]["partner"]["code"] == "KKBOX"
    again = await gql(q, {"c": "KKBOX"}, token=admin)
    assert again["data"]["createPromotionPartner"]["code"] == "PARTNER_CODE_TAKEN"
    bad = await gql(q, {"c": "no spaces"}, token=admin)
    assert bad["data"]["createPromotionPartner"]["field"] == "code"


GRAPHQL_RESPONSE = "application/graphql-response+json"


async def _refused_like_a_bad_token(http: Any, secret: str, why: str) -> None:
    """The request is not run, public fields included: as for a forged or revoked access
    token (tests/security/test_requests.py)."""
    auth = {"authorization": f"Bearer {secret}"}
    for query in ("{ genres { slug } }", "{ promotions(placement: HOME_BANNER) { title } }"):
        r = await http.post("/graphql", json={"query": query}, headers=auth)
        assert r.status_code == 200, (why, r.text)
        assert r.json()["data"] is None, why
        assert [e["extensions"]["code"] for e in r.json()["errors"]] == ["UNAUTHENTICATED"], why
        assert r.json()["errors"][0]["extensions"]["reason"] == "INVALID_TOKEN", why
        assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"', why
    r = await http.post(
        "/graphql",
        json={"query": "{ genres { slug } }"},
        headers={**auth, "accept": GRAPHQL_RESPONSE},
    )
    assert r.status_code == 401 and "data" not in r.json(), why
    r = await http.get("/graphql", params={"query": "{ genres { slug } }"}, headers=auth)
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", why


async def test_unknown_and_revoked_keys_are_refused_on_public_fields(
    http: Any, gql: GraphQLClient
) -> None:
    kkbox = await partner("KKBOX")
    admin = await login_token(await make_user("root", role=Role.ADMIN))
    kk = to_global_id("Partner", kkbox.id)
    create = (
        f'mutation {{ createPartnerApiKey(partnerId: "{kk}", name: "feed") {{ __typename '
        "... on PartnerApiKeyCreatedPayload { secret key { id } } } }"
    )
    made = (await gql(create, token=admin))["data"]["createPartnerApiKey"]
    secret = made["secret"]
    # An active key: public fields as an anonymous request, its partner's promotion fields.
    public = await gql("{ genres { slug } promotionPartners { code } }", token=secret)
    assert public["data"] == {"genres": [], "promotionPartners": [{"code": "KKBOX"}]}

    await _refused_like_a_bad_token(http, "ncmpk_" + "x" * 43, "unknown")
    await _refused_like_a_bad_token(http, secret[:-1] + ("A" if secret[-1] != "A" else "B"), "typo")
    revoke = f'mutation {{ revokePartnerApiKey(id: "{made["key"]["id"]}") {{ __typename }} }}'
    await gql(revoke, token=admin)
    await _refused_like_a_bad_token(http, secret, "revoked")


async def test_a_key_revoked_by_another_process_is_refused(gql: GraphQLClient, http: Any) -> None:
    """Another server process (or the CLI) revokes: this one refuses the key once it has
    read the keys again (its watcher does so within REFRESH_SECONDS of the version change;
    here the read is awaited). Without Redis there is one server process: nothing to see."""
    from tortoise import timezone

    from ncm.kit.redis import get_redis
    from ncm.promotion import keys
    from tests.promotion.helpers import OPERATOR

    redis = await get_redis()
    if redis is None:
        return
    kkbox = await partner("KKBOX")
    created = await keys.create_key(OPERATOR, kkbox.id, "feed")
    assert (await gql("{ genres { slug } }", token=created.secret))["data"] == {"genres": []}
    await PartnerApiKey.filter(id=created.key.id).update(revoked_at=timezone.now())
    await redis.set(keys._version_key(), "elsewhere-1")  # as revoke_key does, elsewhere
    await keys.refresh()
    await _refused_like_a_bad_token(http, created.secret, "revoked elsewhere")
    # And a key made elsewhere is taken in the same way.
    other = await keys.create_key(OPERATOR, kkbox.id, "second")
    keys._registry.active.pop(other.key.key_hash)  # as if this process had not made it
    await _refused_like_a_bad_token(http, other.secret, "not read yet")
    await redis.set(keys._version_key(), "elsewhere-2")
    await keys.refresh()
    assert (await gql("{ genres { slug } }", token=other.secret))["data"] == {"genres": []}


# Every promotion field a partner could use, with what it must do for KKBOX against JOOX's
# objects; `test_every_partner_field_is_isolated` fails when a field is added without a line.
PUBLIC_FIELDS = {  # the viewer's, not a partner's
    "promotions",
    "record_promotion_events",
    "record_promotion_events_packed",
}


async def _isolation_checks(
    gql: GraphQLClient, token: str, ours: str, theirs: str, joox: str, joox_key: str
) -> dict[str, Any]:
    today = date.today()
    rng = f'from: "{today - timedelta(days=1)}", to: "{today}"'

    async def run(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return await gql(query, variables, token=token, expect_errors=True)

    async def top_error(query: str, code: str) -> None:
        body = await run(query)
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == code, body

    async def step_not_found(name: str) -> None:
        body = await run(
            f'mutation {{ {name}(id: "{theirs}") {{ __typename ... on Error {{ code }} }} }}'
        )
        assert body["data"][name]["code"] == "CAMPAIGN_NOT_FOUND", body

    async def partners() -> None:
        body = await run("{ promotionPartners { code } }")
        assert body["data"]["promotionPartners"] == [{"code": "KKBOX"}]

    async def campaigns_list() -> None:
        body = await run(
            f"{{ mine: promotionCampaigns {{ nodes {{ id }} }} "
            f'other: promotionCampaigns(partnerId: "{joox}") {{ nodes {{ id }} }} }}'
        )
        assert body["data"] == {"mine": {"nodes": [{"id": ours}]}, "other": {"nodes": []}}

    async def campaign() -> None:
        body = await run(
            f'{{ mine: promotionCampaign(id: "{ours}") {{ id }} '
            f'other: promotionCampaign(id: "{theirs}") {{ id }} }}'
        )
        assert body["data"] == {"mine": {"id": ours}, "other": None}

    async def create() -> None:
        body = await run(CREATE, {"input": campaign_input(partnerId=joox)})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body

    async def update() -> None:
        body = await run(
            "mutation($id: ID!, $input: CampaignInput!) { updateCampaign(id: $id, input: $input)"
            " { __typename ... on Error { code } } }",
            {"id": theirs, "input": campaign_input(name="hijacked")},
        )
        assert body["data"]["updateCampaign"]["code"] == "CAMPAIGN_NOT_FOUND", body

    return {
        "promotion_partners": partners,
        "partner_api_keys": lambda: top_error(
            f'{{ partnerApiKeys(partnerId: "{joox}") {{ id }} }}', "FORBIDDEN"
        ),
        "promotion_campaigns": campaigns_list,
        "promotion_campaign": campaign,
        "campaign_report": lambda: top_error(
            f'{{ campaignReport(campaignId: "{theirs}", {rng}) {{ total {{ impressions }} }} }}',
            "CAMPAIGN_NOT_FOUND",
        ),
        "partner_report": lambda: top_error(
            f'{{ partnerReport({rng}, partnerId: "{joox}") {{ campaign {{ id }} }} }}',
            "PARTNER_NOT_FOUND",
        ),
        "create_promotion_partner": lambda: top_error(
            'mutation { createPromotionPartner(code: "X1", name: "x") { __typename } }',
            "FORBIDDEN",
        ),
        "create_partner_api_key": lambda: top_error(
            f'mutation {{ createPartnerApiKey(partnerId: "{joox}", name: "k") {{ __typename }} }}',
            "FORBIDDEN",
        ),
        "revoke_partner_api_key": lambda: top_error(
            f'mutation {{ revokePartnerApiKey(id: "{joox_key}") {{ __typename }} }}', "FORBIDDEN"
        ),
        "create_campaign": create,
        "update_campaign": update,
        "submit_campaign": lambda: step_not_found("submitCampaign"),
        "pause_campaign": lambda: step_not_found("pauseCampaign"),
        "resume_campaign": lambda: step_not_found("resumeCampaign"),
        "end_campaign": lambda: step_not_found("endCampaign"),
        "approve_campaign": lambda: top_error(
            f'mutation {{ approveCampaign(id: "{theirs}") {{ __typename }} }}', "FORBIDDEN"
        ),
        "reject_campaign": lambda: top_error(
            f'mutation {{ rejectCampaign(id: "{theirs}", note: "n") {{ __typename }} }}',
            "FORBIDDEN",
        ),
    }


@pytest.mark.parametrize("credential", ["partner user", "partner API key"])
async def test_every_partner_field_is_isolated(gql: GraphQLClient, credential: str) -> None:
    from ncm.promotion import keys
    from ncm.promotion.models import Campaign as CampaignModel
    from ncm.schema.promotion.mutations import PromotionMutation
    from ncm.schema.promotion.queries import PromotionQuery
    from tests.promotion.helpers import OPERATOR

    kkbox, joox = await partner("KKBOX"), await partner("JOOX")
    if credential == "partner user":
        token = await login_token(await partner_user(kkbox, "kkuser"))
    else:
        token = (await keys.create_key(OPERATOR, kkbox.id, "kk systems")).secret
    joox_key = await keys.create_key(OPERATOR, joox.id, "joox systems")
    ours = await live_campaign(kkbox, name="ours")
    theirs = await live_campaign(joox, name="theirs")
    checks = await _isolation_checks(
        gql,
        token,
        to_global_id("Campaign", ours.id),
        to_global_id("Campaign", theirs.id),
        to_global_id("Partner", joox.id),
        to_global_id("PartnerApiKey", joox_key.key.id),
    )
    fields = {
        f.python_name
        for t in (PromotionQuery, PromotionMutation)
        for f in t.__strawberry_definition__.fields  # type: ignore[attr-defined]
    }
    assert fields - PUBLIC_FIELDS == set(checks), "a promotion field without an isolation check"
    for name, check in checks.items():
        try:
            await check()
        except AssertionError as exc:
            raise AssertionError(f"{credential}: {name}") from exc
    # JOOX's objects are as they were.
    after = await CampaignModel.get(id=theirs.id)
    assert (after.name, after.status) == ("theirs", theirs.status)
    assert await PartnerApiKey.filter(id=joox_key.key.id, revoked_at=None).exists()
    assert keys.is_active(joox_key.secret)
