from __future__ import annotations

import strawberry

from ncm.comments import moderation
from ncm.comments.models import ReportStatus, TargetType
from ncm.comments.ranking import CommentOrder
from ncm.comments.targets import not_found
from ncm.schema.base import Connection, connection, pk_of
from ncm.schema.comments.types import (
    Comment,
    CommentReport,
    CommentThread,
    ModerationAction,
    load_thread,
    target_ref,
    thread_comments,
    thread_ref,
    track_or_album_page,
    visible_comment,
)
from ncm.schema.context import Info


@strawberry.type
class CommentsQuery:
    @strawberry.field(
        description="The comment thread of a Track, Album or Playlist (by its id); null when "
        "you may not see the target."
    )
    async def comment_thread(self, info: Info, target_id: strawberry.ID) -> CommentThread | None:
        return await load_thread(info, target_ref(target_id))

    @strawberry.field(description="A thread's top-level comments (RECOMMENDED by default).")
    async def comments(
        self,
        info: Info,
        thread_id: strawberry.ID,
        order: CommentOrder = CommentOrder.RECOMMENDED,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Comment]:
        ref = thread_ref(thread_id)
        if order != CommentOrder.RECOMMENDED and ref.target_type != TargetType.PLAYLIST:
            page = await track_or_album_page(info, ref, order, first, after)
            if page is not None:
                return page
        thread = await load_thread(info, ref)
        if thread is None:
            raise not_found()
        return await thread_comments(info, thread.thread_pk, order, first, after)

    @strawberry.field(description="One comment; a hidden one only for its author and moderators.")
    async def comment(self, info: Info, id: strawberry.ID) -> Comment | None:
        return await visible_comment(info, pk_of(id, "Comment"))

    @strawberry.field(description="Moderators: reports, newest first (open ones by default).")
    async def comment_reports(
        self,
        info: Info,
        status: ReportStatus = ReportStatus.OPEN,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[CommentReport]:
        page = await moderation.reports(await info.context.viewer(), first, after, status=status)
        return connection(page, CommentReport.from_model)

    @strawberry.field(description="Moderators: the audit log, newest first.")
    async def moderation_actions(
        self,
        info: Info,
        comment_id: strawberry.ID | None = None,
        user_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ModerationAction]:
        page = await moderation.actions(
            await info.context.viewer(),
            first,
            after,
            comment_id=pk_of(comment_id, "Comment", field="commentId") if comment_id else None,
            user_id=pk_of(user_id, "User", field="userId") if user_id else None,
        )
        return connection(page, ModerationAction.from_model)
