"""``ncm comments``: the moderation queue, hiding and restoring, bans, counters, bench data."""

from __future__ import annotations

import getpass
from typing import Any

import typer

from ncm.cli.common import JsonOption, emit, emit_one, ids_of, run, user_ref
from ncm.cli.progress import progress

app = typer.Typer(help="Comments: moderation, bans, counters.", no_args_is_help=True)


def operator() -> str:
    """Who acts, for the audit log: the operator's login."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers)
        return "cli:unknown"


def comment_record(c: Any) -> dict[str, Any]:
    return {
        "id": c.id,
        "thread_id": c.thread_id,
        "author_id": c.author_id,
        "parent_id": c.parent_id,
        "state": c.state,
        "likes": c.like_count,
        "replies": c.reply_count,
        "created_at": c.created_at,
        "body": c.body,
    }


@app.command()
def reports(
    status: str = typer.Option("OPEN", help="OPEN, ACTIONED or DISMISSED."),
    limit: int = typer.Option(50, min=1, max=100),
    as_json: bool = JsonOption,
) -> None:
    """Reports in a status (open ones by default), newest first, with the reported text."""
    from ncm.comments import moderation
    from ncm.comments.models import Comment, ReportStatus
    from ncm.errors import InvalidInput

    async def work() -> list[dict[str, Any]]:
        try:
            wanted = ReportStatus(status.upper())
        except ValueError:
            raise InvalidInput(f"Unknown status {status!r}.", field="status") from None
        page = await moderation.reports(None, limit, None, status=wanted, operator=operator())
        bodies = {c.id: c for c in await Comment.filter(id__in=[r.comment_id for r in page.items])}
        return [
            {
                "id": r.id,
                "comment_id": r.comment_id,
                "reporter_id": r.reporter_id,
                "reason": r.reason,
                "note": r.note,
                "status": r.status,
                "created_at": r.created_at,
                "comment_state": bodies[r.comment_id].state,
                "comment": bodies[r.comment_id].body[:80],
            }
            for r in page.items
        ]

    emit(run(work), as_json, title=f"{status.upper()} reports")


@app.command()
def hide(
    comment_id: int = typer.Argument(
        ..., parser=ids_of("Comment"), help="Comment id or global id."
    ),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the audit log)."),
    as_json: bool = JsonOption,
) -> None:
    """Hide a comment from everyone but its author and moderators."""
    from ncm.comments import moderation

    row = run(lambda: moderation.hide(None, comment_id, reason, operator=operator()))
    emit_one(comment_record(row), as_json, title="hidden")


@app.command()
def restore(
    comment_id: int = typer.Argument(
        ..., parser=ids_of("Comment"), help="Comment id or global id."
    ),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit log)."),
    as_json: bool = JsonOption,
) -> None:
    """Show a hidden comment again (its open reports are dismissed)."""
    from ncm.comments import moderation

    row = run(lambda: moderation.restore(None, comment_id, reason, operator=operator()))
    emit_one(comment_record(row), as_json, title="restored")


@app.command()
def ban(
    user: str = typer.Argument(..., help="Id, email or handle."),
    days: int = typer.Option(..., "--days", min=1, help="How long."),
    reason: str = typer.Option("banned by an operator", "--reason", help="Why."),
    as_json: bool = JsonOption,
) -> None:
    """Ban a user from commenting for some days."""
    from ncm.accounts import service as accounts
    from ncm.comments import moderation

    async def work() -> dict[str, Any]:
        found = await accounts.find_user(user_ref(user))
        row = await moderation.ban(None, found.id, days, reason, operator=operator())
        return {"user_id": found.id, "handle": found.handle, "banned_until": row.ends_at}

    emit_one(run(work), as_json, title="banned")


@app.command()
def unban(
    user: str = typer.Argument(..., help="Id, email or handle."),
    reason: str = typer.Option("", "--reason", help="Why."),
    as_json: bool = JsonOption,
) -> None:
    """Lift a user's comment ban."""
    from ncm.accounts import service as accounts
    from ncm.comments import moderation

    async def work() -> dict[str, Any]:
        found = await accounts.find_user(user_ref(user))
        lifted = await moderation.unban(None, found.id, reason, operator=operator())
        return {"user_id": found.id, "handle": found.handle, "bans_lifted": lifted}

    emit_one(run(work), as_json, title="unbanned")


@app.command()
def log(
    limit: int = typer.Option(50, min=1, max=100),
    comment_id: int = typer.Option(
        None, "--comment", parser=ids_of("Comment"), help="Only about this comment."
    ),
    user_id: int = typer.Option(
        None, "--user", parser=ids_of("User"), help="Only about this user (id or global id)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """The moderation audit log, newest first."""
    from ncm.comments import moderation

    async def work() -> list[dict[str, Any]]:
        page = await moderation.actions(
            None, limit, None, comment_id=comment_id, user_id=user_id, operator=operator()
        )
        return [
            {
                "id": a.id,
                "at": a.created_at,
                "kind": a.kind,
                "by": a.operator or f"user:{a.moderator_id}",
                "comment_id": a.comment_id,
                "user_id": a.target_user_id,
                "reason": a.reason,
            }
            for a in page.items
        ]

    emit(run(work), as_json, title="moderation log")


@app.command()
def recount(
    thread_ids: list[int] = typer.Argument(
        None, parser=ids_of("CommentThread"), help="Thread ids (default: every thread)."
    ),
    check: bool = typer.Option(False, "--check", help="Only report; exit 1 if any is wrong."),
    as_json: bool = JsonOption,
) -> None:
    """Audit the stored counters against the rows (and repair them unless --check)."""
    from ncm.comments.jobs import recount_threads
    from ncm.comments.models import CommentThread
    from ncm.kit.db import column
    from ncm.kit.progress import Echo

    async def work(echo: Echo) -> dict[str, Any]:
        ids = thread_ids or await column(CommentThread.all().order_by("id"), "id")
        audit = await recount_threads(list(ids), fix=not check, echo=echo)
        return {
            "threads_checked": len(ids),
            "wrong_thread_counts": audit.threads,
            "wrong_comment_counts": audit.comments,
            "wrong_target_counts": audit.targets,
            "repaired": audit.fixed and audit.total > 0,
        }

    with progress("threads") as echo:
        report = run(lambda: work(echo))
    emit_one(report, as_json, title="comment counters")
    if check and any(report[k] for k in report if k.startswith("wrong_")):
        raise typer.Exit(1)
