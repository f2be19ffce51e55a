"""Reports, hiding and restoring, bans, the audit log, and the abuse limits."""

from __future__ import annotations

from typing import Any

import pytest

from ncm.accounts.models import Role
from ncm.comments import moderation, service
from ncm.comments.models import (
    CommentReport,
    CommentState,
    CommentThread,
    ModerationAction,
    ReportStatus,
)
from ncm.config import reset_settings
from ncm.errors import Conflict
from ncm.schema.base import to_global_id
from tests.comments.helpers import comment_gid, page, post, track_ref, user_and_token
from tests.conftest import GraphQLClient

REPORT = """mutation($id: ID!, $reason: CommentReportReason!, $note: String) {
  reportComment(commentId: $id, reason: $reason, note: $note) { __typename
  ... on ReportCommentPayload { report { reason note status comment { body } } }
  ... on Error { code } } }"""
REPORTS = """{ commentReports { edges { node { reason status reporter { handle }
  comment { body } } } } }"""
HIDE = """mutation($id: ID!, $reason: String!) { hideComment(commentId: $id, reason: $reason) {
  __typename ... on CommentPayload { comment { hidden body } } ... on Error { code } } }"""
RESTORE = """mutation($id: ID!) { restoreComment(commentId: $id, reason: "fine") { __typename
  ... on CommentPayload { comment { hidden body } } ... on Error { code } } }"""
BAN = """mutation($id: ID!, $days: Int!) { banCommenter(userId: $id, days: $days, reason: "abuse")
  { __typename ... on BanCommenterPayload { bannedUntil user { handle } } ... on Error { code } }
  }"""
LOG = """{ moderationActions { edges { node { kind reason operator moderator { handle }
  commentId targetUserId } } } }"""


async def test_report_then_moderator_hides_and_restores_with_audit(gql: GraphQLClient) -> None:
    ref = await track_ref()
    _, author_token = await user_and_token("author")
    _, bob = await user_and_token("bob")
    mod, mod_token = await user_and_token("mod", Role.MODERATOR)
    gid = (await post(gql, author_token, ref, "buy cheap followers"))["comment"]["id"]
    for _ in range(2):  # once per user: a second report changes nothing
        r = (await gql(REPORT, {"id": gid, "reason": "SPAM", "note": "ad"}, token=bob))["data"]
        assert r["reportComment"]["report"] == {
            "reason": "SPAM",
            "note": "ad",
            "status": "OPEN",
            "comment": {"body": "buy cheap followers"},
        }
    assert await CommentReport.all().count() == 1
    own = (await gql(REPORT, {"id": gid, "reason": "SPAM"}, token=author_token))["data"]
    assert own["reportComment"] == {"__typename": "InvalidInputError", "code": "SELF_REPORT"}
    queue = (await gql(REPORTS, token=mod_token))["data"]["commentReports"]["edges"]
    assert [e["node"]["reporter"]["handle"] for e in queue] == ["bob"]
    no_reason = (await gql(HIDE, {"id": gid, "reason": " "}, token=mod_token))["data"]
    assert no_reason["hideComment"]["code"] == "REASON_REQUIRED"
    hidden = (await gql(HIDE, {"id": gid, "reason": "spam link"}, token=mod_token))["data"]
    assert hidden["hideComment"]["comment"] == {"hidden": True, "body": "buy cheap followers"}
    again = (await gql(HIDE, {"id": gid, "reason": "spam"}, token=mod_token))["data"]
    assert again["hideComment"] == {"__typename": "ConflictError", "code": "NOT_VISIBLE"}
    assert (await CommentReport.get()).status == ReportStatus.ACTIONED
    assert (await gql(REPORTS, token=mod_token))["data"]["commentReports"]["edges"] == []
    assert (await CommentThread.get()).comment_count == 0
    assert (await page(gql, ref))["edges"] == []
    # A hidden comment can be neither liked nor reported by others.
    like = "mutation($id: ID!) { likeComment(commentId: $id) { __typename } }"
    assert (await gql(like, {"id": gid}, token=bob))["data"]["likeComment"] == {
        "__typename": "NotFoundError"
    }
    restored = (await gql(RESTORE, {"id": gid}, token=mod_token))["data"]["restoreComment"]
    assert restored["comment"] == {"hidden": False, "body": "buy cheap followers"}
    assert (await CommentThread.get()).comment_count == 1
    log = (await gql(LOG, token=mod_token))["data"]["moderationActions"]["edges"]
    assert [
        (e["node"]["kind"], e["node"]["reason"], e["node"]["moderator"]["handle"]) for e in log
    ] == [("RESTORE", "fine", "mod"), ("HIDE", "spam link", "mod")]
    assert log[0]["node"]["commentId"] == gid
    assert await ModerationAction.filter(moderator_id=mod.id).count() == 2


async def test_moderation_is_for_moderators_only(gql: GraphQLClient) -> None:
    ref = await track_ref()
    author, token = await user_and_token("author")
    _, admin_token = await user_and_token("boss", Role.ADMIN)
    gid = (await post(gql, token, ref, "hello"))["comment"]["id"]
    for document, variables in (
        (HIDE, {"id": gid, "reason": "x"}),
        (RESTORE, {"id": gid}),
        (BAN, {"id": to_global_id("User", author.id), "days": 1}),
        (REPORTS, {}),
        (LOG, {}),
    ):
        for who in (token, None):
            body = await gql(document, variables, token=who, expect_errors=True)
            assert body["errors"][0]["extensions"]["code"] in {"FORBIDDEN", "UNAUTHENTICATED"}
    # Admins pass every role check.
    assert (await gql(HIDE, {"id": gid, "reason": "x"}, token=admin_token))["data"]["hideComment"][
        "comment"
    ]["hidden"] is True
    assert await ModerationAction.all().count() == 1


async def test_banned_user_gets_a_typed_error_with_the_end(gql: GraphQLClient) -> None:
    ref = await track_ref()
    user, token = await user_and_token("troll")
    _, mod_token = await user_and_token("mod", Role.MODERATOR)
    banned = (await gql(BAN, {"id": to_global_id("User", user.id), "days": 3}, token=mod_token))[
        "data"
    ]["banCommenter"]
    assert banned["user"] == {"handle": "troll"}
    result = await post(gql, token, ref, "let me speak")
    assert (result["__typename"], result["code"]) == ("CommentBannedError", "COMMENT_BANNED")
    assert result["bannedUntil"] == banned["bannedUntil"]
    bad = (await gql(BAN, {"id": to_global_id("User", user.id), "days": 0}, token=mod_token))[
        "data"
    ]["banCommenter"]
    assert bad == {"__typename": "InvalidInputError", "code": "INVALID_DAYS"}
    await moderation.unban(None, user.id, "appeal", operator="cli:test")
    assert (await post(gql, token, ref, "thanks"))["__typename"] == "CommentPayload"
    with pytest.raises(Conflict):
        await moderation.unban(None, user.id, operator="cli:test")


async def test_post_rate_limit_is_typed_with_retry_after(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NCM_COMMENT_RATE_PER_MINUTE", "2")
    reset_settings()
    ref = await track_ref()
    _, token = await user_and_token("fast")
    _, other = await user_and_token("other")
    for i in range(2):
        assert (await post(gql, token, ref, f"c{i}"))["__typename"] == "CommentPayload"
    limited = await post(gql, token, ref, "one more")
    assert (limited["__typename"], limited["code"]) == ("RateLimitedError", "RATE_LIMITED")
    assert 1 <= limited["retryAfterSeconds"] <= 60
    # Per user: someone else still posts.
    assert (await post(gql, other, ref, "me too"))["__typename"] == "CommentPayload"


async def test_author_can_delete_a_hidden_comment_and_counts_hold() -> None:
    ref = await track_ref()
    from tests.conftest import make_user

    author = await make_user("author")
    comment = await service.post_comment(author, ref, "oops")
    await moderation.hide(None, comment.id, "rude", operator="cli:test")
    deleted = await service.delete_comment(author, comment.id)
    assert deleted.state == CommentState.DELETED
    assert (await CommentThread.get()).comment_count == 0
    with pytest.raises(Conflict):
        await moderation.restore(None, comment.id, operator="cli:test")
    gone = await service.comment_for(None, comment.id)
    assert gone.state == CommentState.DELETED and comment_gid(gone)


async def test_moderators_ban_listeners_admins_ban_staff_nobody_bans_themselves(
    gql: GraphQLClient,
) -> None:
    mod, mod_token = await user_and_token("mod", Role.MODERATOR)
    other_mod, _ = await user_and_token("mod2", Role.MODERATOR)
    admin, admin_token = await user_and_token("boss", Role.ADMIN)
    listener, _ = await user_and_token("listener")

    async def ban(token: str, user: Any) -> str:
        """The payload's type, or the top-level error's code."""
        body = await gql(
            BAN, {"id": to_global_id("User", user.id), "days": 1}, token=token, expect_errors=True
        )
        if body.get("errors"):
            return str(body["errors"][0]["extensions"]["code"])
        return str(body["data"]["banCommenter"]["__typename"])

    assert await ban(mod_token, mod) == "FORBIDDEN"
    assert await ban(mod_token, admin) == "FORBIDDEN"
    assert await ban(mod_token, other_mod) == "FORBIDDEN"
    assert await ban(mod_token, listener) == "BanCommenterPayload"
    assert await ban(admin_token, other_mod) == "BanCommenterPayload"
    assert await ban(admin_token, admin) == "FORBIDDEN"
    # Operators (the CLI) may ban anyone.
    assert await moderation.ban(None, admin.id, 1, "test", operator="ops")


async def test_unbanning_a_missing_user_is_not_found() -> None:
    from ncm.errors import NotFound

    mod, _ = await user_and_token("mod", Role.MODERATOR)
    with pytest.raises(NotFound):
        await moderation.unban(mod, 999_999)
