"""Partners and keys through GraphQL: every partner query and mutation tried across two
partners, API keys (shown once, hashed, scoped, revocable) as bearer tokens."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

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
