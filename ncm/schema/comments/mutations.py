from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

import strawberry

from ncm.accounts import service as accounts
from ncm.accounts.models import User as UserModel
from ncm.comments import moderation
from ncm.comments import service as comments
from ncm.comments.errors import CommentBanned
from ncm.comments.models import Comment as CommentModel
from ncm.comments.models import ReportReason
from ncm.schema.accounts.types import User
from ncm.schema.base import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    error_fields,
    mutation,
    pk_of,
    register_error,
)
from ncm.schema.comments.types import (
    Comment,
    CommentBannedError,
    CommentReport,
    comment_view,
    thread_ref,
)
from ncm.schema.context import Info


@strawberry.input
class PostCommentInput:
    thread_id: strawberry.ID
    body: str = strawberry.field(description="Up to 1,000 characters; trimmed.")
    reply_to_id: strawberry.ID | None = strawberry.field(
        default=None, description="Reply in the floor of this comment (or of its parent)."
    )


@strawberry.type
class CommentPayload:
    comment: Comment


@strawberry.type
class ReportCommentPayload:
    report: CommentReport


@strawberry.type
class DismissReportsPayload:
    closed: int = strawberry.field(description="How many open reports were closed.")


@strawberry.type
class BanCommenterPayload:
    user: User
    banned_until: datetime


@strawberry.type
class UnbanCommenterPayload:
    user: User
    lifted: int


PostCommentResult = Annotated[
    CommentPayload
    | InvalidInputError
    | NotFoundError
    | ConflictError
    | RateLimitedError
    | CommentBannedError,
    strawberry.union("PostCommentResult"),
]
EditCommentResult = Annotated[
    CommentPayload | InvalidInputError | NotFoundError | ConflictError | CommentBannedError,
    strawberry.union("EditCommentResult"),
]
CommentActionResult = Annotated[
    CommentPayload | NotFoundError | InvalidInputError, strawberry.union("CommentActionResult")
]
ReportCommentResult = Annotated[
    ReportCommentPayload | NotFoundError | InvalidInputError,
    strawberry.union("ReportCommentResult"),
]
ModerateCommentResult = Annotated[
    CommentPayload | NotFoundError | ConflictError | InvalidInputError,
    strawberry.union("ModerateCommentResult"),
]
DismissReportsResult = Annotated[
    DismissReportsPayload | NotFoundError | InvalidInputError,
    strawberry.union("DismissReportsResult"),
]
BanCommenterResult = Annotated[
    BanCommenterPayload | NotFoundError | InvalidInputError,
    strawberry.union("BanCommenterResult"),
]
UnbanCommenterResult = Annotated[
    UnbanCommenterPayload | NotFoundError | ConflictError | InvalidInputError,
    strawberry.union("UnbanCommenterResult"),
]


register_error(
    CommentBanned,
    lambda e: CommentBannedError(**error_fields(e), banned_until=e.until),
)


Action = Callable[[UserModel | None, int], Awaitable[CommentModel]]


async def _on_comment(info: Info, comment_id: strawberry.ID, action: Action) -> CommentPayload:
    viewer = await info.context.viewer()
    row = await action(viewer, pk_of(comment_id, "Comment", field="commentId"))
    return CommentPayload(comment=await comment_view(info, row))


async def _user(info: Info, pk: int) -> User:
    return User.from_model(await accounts.get_user(pk))


@strawberry.type
class CommentsMutation:
    @mutation(description="Comment on a thread, or reply in a floor.")
    async def post_comment(self, info: Info, input: PostCommentInput) -> PostCommentResult:
        viewer = await info.context.viewer()
        reply_to = (
            pk_of(input.reply_to_id, "Comment", field="replyToId") if input.reply_to_id else None
        )
        row = await comments.post_comment(
            viewer, thread_ref(input.thread_id), input.body, reply_to_id=reply_to
        )
        return CommentPayload(comment=await comment_view(info, row))

    @mutation(description="Authors only, within 10 minutes of posting.")
    async def edit_comment(
        self, info: Info, comment_id: strawberry.ID, body: str
    ) -> EditCommentResult:
        async def edit(viewer: UserModel | None, pk: int) -> CommentModel:
            return await comments.edit_comment(viewer, pk, body)

        return await _on_comment(info, comment_id, edit)

    @mutation(description="Authors only. The floor's replies stay.")
    async def delete_comment(self, info: Info, comment_id: strawberry.ID) -> CommentActionResult:
        return await _on_comment(info, comment_id, comments.delete_comment)

    @mutation(description="Like a comment; liking twice changes nothing.")
    async def like_comment(self, info: Info, comment_id: strawberry.ID) -> CommentActionResult:
        return await _on_comment(info, comment_id, comments.like)

    @mutation(description="Take a like back; idempotent.")
    async def unlike_comment(self, info: Info, comment_id: strawberry.ID) -> CommentActionResult:
        return await _on_comment(info, comment_id, comments.unlike)

    @mutation(description="Report a comment to the moderators (once per comment).")
    async def report_comment(
        self,
        info: Info,
        comment_id: strawberry.ID,
        reason: ReportReason,
        note: str | None = None,
    ) -> ReportCommentResult:
        row = await moderation.report(
            await info.context.viewer(),
            pk_of(comment_id, "Comment", field="commentId"),
            reason,
            note,
        )
        return ReportCommentPayload(report=CommentReport.from_model(row))

    @mutation(description="Moderators: hide a comment from everyone else.")
    async def hide_comment(
        self, info: Info, comment_id: strawberry.ID, reason: str
    ) -> ModerateCommentResult:
        async def hide(viewer: UserModel | None, pk: int) -> CommentModel:
            return await moderation.hide(viewer, pk, reason)

        return await _on_comment(info, comment_id, hide)

    @mutation(description="Moderators: show a hidden comment again.")
    async def restore_comment(
        self, info: Info, comment_id: strawberry.ID, reason: str | None = None
    ) -> ModerateCommentResult:
        async def restore(viewer: UserModel | None, pk: int) -> CommentModel:
            return await moderation.restore(viewer, pk, reason)

        return await _on_comment(info, comment_id, restore)

    @mutation(description="Moderators: keep a reported comment; its reports close.")
    async def dismiss_comment_reports(
        self, info: Info, comment_id: strawberry.ID, reason: str | None = None
    ) -> DismissReportsResult:
        closed = await moderation.dismiss_reports(
            await info.context.viewer(),
            pk_of(comment_id, "Comment", field="commentId"),
            reason,
        )
        return DismissReportsPayload(closed=closed)

    @mutation(description="Moderators: ban a user from commenting for some days.")
    async def ban_commenter(
        self, info: Info, user_id: strawberry.ID, days: int, reason: str
    ) -> BanCommenterResult:
        pk = pk_of(user_id, "User", field="userId")
        row = await moderation.ban(await info.context.viewer(), pk, days, reason)
        return BanCommenterPayload(user=await _user(info, pk), banned_until=row.ends_at)

    @mutation(description="Moderators: lift a user's comment ban.")
    async def unban_commenter(
        self, info: Info, user_id: strawberry.ID, reason: str | None = None
    ) -> UnbanCommenterResult:
        pk = pk_of(user_id, "User", field="userId")
        lifted = await moderation.unban(await info.context.viewer(), pk, reason)
        return UnbanCommenterPayload(user=await _user(info, pk), lifted=lifted)
