"""``ncm comments``: the commands, in-process, against the test database."""

from __future__ import annotations

import pytest

from ncm.catalog.models import Track
from ncm.comments import moderation, service
from ncm.comments.models import (
    CommentBan,
    CommentReport,
    CommentState,
    CommentThread,
    ModerationAction,
    ReportReason,
)
from tests.cli.helpers import ncm, ncm_json
from tests.comments.helpers import track_ref
from tests.conftest import make_user


async def test_reports_hide_restore_and_the_log() -> None:
    ref = await track_ref()
    author, reporter = await make_user("author"), await make_user("reporter")
    comment = await service.post_comment(author, ref, "spam spam 垃圾")
    await moderation.report(reporter, comment.id, ReportReason.SPAM, "ads")
    queue = ncm_json("comments", "reports")
    assert [(r["comment_id"], r["reason"], r["note"], r["comment"]) for r in queue] == [
        (comment.id, "SPAM", "ads", "spam spam 垃圾")
    ]
    hidden = ncm_json("comments", "hide", str(comment.id), "--reason", "advertising")
    assert hidden["state"] == "HIDDEN"
    assert (await CommentThread.get()).comment_count == 0
    assert ncm_json("comments", "reports") == []
    restored = ncm_json("comments", "restore", str(comment.id))
    assert restored["state"] == "VISIBLE"
    assert (await CommentReport.get()).status == "ACTIONED"
    log = ncm_json("comments", "log", "--comment", str(comment.id))
    assert [(e["kind"], e["reason"]) for e in log] == [("RESTORE", ""), ("HIDE", "advertising")]
    assert all(e["by"].startswith("cli:") for e in log)
    table = ncm("comments", "log")
    assert table.returncode == 0 and "advertising" in table.stdout


async def test_failures_exit_non_zero_with_a_message() -> None:
    ref = await track_ref()
    author = await make_user("author")
    comment = await service.post_comment(author, ref, "fine")
    missing = ncm("comments", "hide", "999", "--reason", "x")
    assert missing.returncode == 1 and "No such comment" in missing.stderr
    not_hidden = ncm("comments", "restore", str(comment.id))
    assert not_hidden.returncode == 1 and "hidden" in not_hidden.stderr
    no_reason = ncm("comments", "hide", str(comment.id))
    assert no_reason.returncode != 0
    assert (await ModerationAction.all().count()) == 0
    assert (await service.comment_for(None, comment.id)).state == CommentState.VISIBLE


async def test_ban_by_handle_and_unban() -> None:
    await make_user("troll")
    banned = ncm_json("comments", "ban", "troll", "--days", "7", "--reason", "flooding")
    assert banned["handle"] == "troll" and banned["banned_until"]
    ban = await CommentBan.get()
    assert (ban.ends_at - ban.created_at).days in (6, 7)
    assert ncm_json("comments", "unban", "troll")["bans_lifted"] == 1
    assert ncm("comments", "unban", "troll").returncode == 1
    kinds = [a.kind for a in await ModerationAction.all().order_by("id")]
    assert kinds == ["BAN", "UNBAN"]


async def test_recount_checks_and_repairs_counters() -> None:
    ref = await track_ref()
    author = await make_user("author")
    await service.post_comment(author, ref, "one")
    assert ncm_json("comments", "recount", "--check")["wrong_target_counts"] == 0
    await Track.filter(id=ref.target_id).update(comment_count=42)
    assert ncm("comments", "recount", "--check").returncode == 1
    fixed = ncm_json("comments", "recount")
    assert fixed["wrong_target_counts"] == 1 and fixed["repaired"] is True
    assert (await Track.get(id=ref.target_id)).comment_count == 1


@pytest.mark.postgres_only
async def test_seed_scale_writes_consistent_counters() -> None:
    report = ncm_json(
        "seed",
        "scale",
        "--tracks",
        "0",
        "--users",
        "0",
        "--comments",
        "4000",
        "--hot-track-share",
        "0.3",
    )
    added = report["comments_added"]
    assert 3000 < added < 5000 and report["comments_likes"] > 0 and report["comments_replies"] > 0
    hot = await CommentThread.get(id=report["comments_hot_thread_id"])
    assert hot.comment_count > 0.15 * added
    check = ncm_json("comments", "recount", "--check")
    assert (
        check["wrong_thread_counts"],
        check["wrong_comment_counts"],
        check["wrong_target_counts"],
    ) == (0, 0, 0)
