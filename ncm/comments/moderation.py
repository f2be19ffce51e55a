"""Moderation: reports from users; hiding, restoring and bans by moderators; the audit log.

Every moderator action writes a :class:`ModerationAction` row (who, when, why) in the same
transaction as its effect. Operators act through the CLI with ``operator="cli:<login>"``
instead of a moderator account; the log records that name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from ncm.accounts.models import Role, User
from ncm.accounts.permissions import require_role, require_viewer
from ncm.comments import counters
from ncm.comments.errors import CommentsErrorCode
from ncm.comments.models import (
    Comment,
    CommentBan,
    CommentReport,
    CommentState,
    ModerationAction,
    ModerationKind,
    ReportReason,
    ReportStatus,
)
from ncm.comments.service import actionable_comment, comment_not_found, now
from ncm.comments.text import clean_reason
from ncm.errors import Conflict, Forbidden, InvalidInput, NotFound
from ncm.kit.pagination import Page, page_by_id_desc
from ncm.kit.sql import fetch

MAX_BAN_DAYS = 3650


@dataclass(frozen=True)
class Moderator:
    """Who acts: a moderator's account, or an operator at the CLI."""

    user_id: int | None
    operator: str


STAFF = (Role.MODERATOR, Role.ADMIN)


def acting(actor: User | None, operator: str | None) -> Moderator:
    if operator is not None:
        return Moderator(None, operator[:64])
    user = require_role(actor, Role.MODERATOR)
    return Moderator(user.id, "")


async def _log(
    conn: BaseDBAsyncClient,
    who: Moderator,
    kind: ModerationKind,
    reason: str,
    *,
    comment_id: int | None = None,
    user_id: int | None = None,
) -> ModerationAction:
    return await ModerationAction.create(
        using_db=conn,
        kind=kind,
        moderator_id=who.user_id,
        operator=who.operator,
        comment_id=comment_id,
        target_user_id=user_id,
        reason=reason,
    )


async def _resolve_reports(
    conn: BaseDBAsyncClient, who: Moderator, comment_id: int, status: ReportStatus
) -> int:
    return await (
        CommentReport.filter(comment_id=comment_id, status=ReportStatus.OPEN)
        .using_db(conn)
        .update(status=status, resolved_at=now(), resolved_by_id=who.user_id)
    )


# Reports


async def report(
    actor: User | None, comment_id: int, reason: ReportReason, note: str | None = None
) -> CommentReport:
    """Report a comment; reporting it again changes nothing (one report per user)."""
    user = require_viewer(actor)
    comment = await actionable_comment(user, comment_id)
    if comment.author_id == user.id:
        raise InvalidInput(
            "You cannot report your own comment.",
            field="commentId",
            code=CommentsErrorCode.SELF_REPORT,
        )
    text = clean_reason(note, required=False, field="note")
    await fetch(
        "INSERT INTO comment_reports (comment_id, reporter_id, reason, note, status, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (comment_id, reporter_id) DO NOTHING",
        [comment.id, user.id, reason.value, text, ReportStatus.OPEN.value, now()],
    )
    return await CommentReport.get(comment_id=comment.id, reporter_id=user.id)


async def reports(
    actor: User | None,
    first: int | None,
    after: str | None,
    *,
    status: ReportStatus = ReportStatus.OPEN,
    operator: str | None = None,
) -> Page[CommentReport]:
    """Reports in this status, newest first (moderators)."""
    acting(actor, operator)
    return await page_by_id_desc(CommentReport.filter(status=status), first, after)


# Hiding and restoring


async def _moderated(comment_id: int) -> Comment:
    comment = await Comment.get_or_none(id=comment_id)
    if comment is None:
        raise comment_not_found()
    return comment


async def _set_state(
    who: Moderator,
    comment_id: int,
    reason: str,
    *,
    to: CommentState,
    kind: ModerationKind,
    reports: ReportStatus,
    conflict: Conflict,
) -> Comment:
    """Hide (VISIBLE -> HIDDEN) or restore (back): the counters, the reports and the log move
    in one transaction."""
    comment = await _moderated(comment_id)
    hiding = to == CommentState.HIDDEN
    async with in_transaction() as conn:
        row = await counters.update_comment(
            conn,
            comment.id,
            state=to,
            when_state=CommentState.VISIBLE if hiding else CommentState.HIDDEN,
            stamp=("hidden_at", now() if hiding else None),
        )
        if row is None:
            raise conflict
        await counters.count_visible(conn, row, -1 if hiding else +1)
        await _resolve_reports(conn, who, comment.id, reports)
        await _log(conn, who, kind, reason, comment_id=comment.id)
    await comment.refresh_from_db()
    return comment


async def hide(
    actor: User | None, comment_id: int, reason: str, *, operator: str | None = None
) -> Comment:
    """Hide a comment from everyone but its author and moderators; open reports close."""
    who = acting(actor, operator)
    text = clean_reason(reason, required=True)
    conflict = Conflict(
        "Only a visible comment can be hidden.",
        field="commentId",
        code=CommentsErrorCode.NOT_VISIBLE,
    )
    return await _set_state(
        who,
        comment_id,
        text,
        to=CommentState.HIDDEN,
        kind=ModerationKind.HIDE,
        reports=ReportStatus.ACTIONED,
        conflict=conflict,
    )


async def restore(
    actor: User | None, comment_id: int, reason: str | None = None, *, operator: str | None = None
) -> Comment:
    """Show a hidden comment again; its open reports are dismissed."""
    who = acting(actor, operator)
    text = clean_reason(reason, required=False)
    conflict = Conflict(
        "Only a hidden comment can be restored.",
        field="commentId",
        code=CommentsErrorCode.NOT_HIDDEN,
    )
    return await _set_state(
        who,
        comment_id,
        text,
        to=CommentState.VISIBLE,
        kind=ModerationKind.RESTORE,
        reports=ReportStatus.DISMISSED,
        conflict=conflict,
    )


async def dismiss_reports(
    actor: User | None, comment_id: int, reason: str | None = None, *, operator: str | None = None
) -> int:
    """Keep a reported comment as it is: its open reports close. Returns how many."""
    who = acting(actor, operator)
    text = clean_reason(reason, required=False)
    comment = await _moderated(comment_id)
    async with in_transaction() as conn:
        closed = await _resolve_reports(conn, who, comment.id, ReportStatus.DISMISSED)
        await _log(conn, who, ModerationKind.DISMISS, text, comment_id=comment.id)
    return closed


# Bans


async def ban(
    actor: User | None,
    user_id: int,
    days: int,
    reason: str,
    *,
    operator: str | None = None,
) -> CommentBan:
    """Ban a user from commenting for ``days`` days (a longer ban wins; lift with unban).
    Moderators ban listeners; staff (moderators, admins) only an admin or an operator bans,
    and nobody bans themselves."""
    who = acting(actor, operator)
    text = clean_reason(reason, required=True)
    if not 1 <= days <= MAX_BAN_DAYS:
        raise InvalidInput(
            f"A ban lasts 1 to {MAX_BAN_DAYS} days.",
            field="days",
            code=CommentsErrorCode.INVALID_DAYS,
        )
    target = await User.get_or_none(id=user_id)
    if target is None:
        raise NotFound("No such user.", field="userId")
    if actor is not None and operator is None:
        if target.id == actor.id:
            raise Forbidden("You cannot ban yourself.")
        if target.role in STAFF and actor.role != Role.ADMIN:
            raise Forbidden("Only an admin can ban a moderator or an admin.")
    async with in_transaction() as conn:
        row = await CommentBan.create(
            using_db=conn, user_id=user_id, reason=text, ends_at=now() + timedelta(days=days)
        )
        await _log(conn, who, ModerationKind.BAN, f"{days}d: {text}", user_id=user_id)
    return row


async def unban(
    actor: User | None, user_id: int, reason: str | None = None, *, operator: str | None = None
) -> int:
    """Lift every running ban of the user; returns how many."""
    who = acting(actor, operator)
    text = clean_reason(reason, required=False)
    if not await User.exists(id=user_id):
        raise NotFound("No such user.", field="userId")
    async with in_transaction() as conn:
        lifted = await (
            CommentBan.filter(user_id=user_id, lifted_at__isnull=True, ends_at__gt=now())
            .using_db(conn)
            .update(lifted_at=now())
        )
        if not lifted:
            raise Conflict(
                "This user is not banned.", field="userId", code=CommentsErrorCode.NOT_BANNED
            )
        await _log(conn, who, ModerationKind.UNBAN, text, user_id=user_id)
    return lifted


# The audit log


async def actions(
    actor: User | None,
    first: int | None,
    after: str | None,
    *,
    comment_id: int | None = None,
    user_id: int | None = None,
    operator: str | None = None,
) -> Page[ModerationAction]:
    """The audit log, newest first (moderators), optionally about one comment or user."""
    acting(actor, operator)
    qs = ModerationAction.all()
    if comment_id is not None:
        qs = qs.filter(comment_id=comment_id)
    if user_id is not None:
        qs = qs.filter(target_user_id=user_id)
    return await page_by_id_desc(qs, first, after)
