from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

import strawberry

from ncm.accounts import service as accounts
from ncm.accounts.models import User as UserModel
from ncm.comments import models as m
from ncm.comments import pages
from ncm.comments import service as comments
from ncm.comments.ranking import CommentOrder
from ncm.comments.targets import (
    ThreadRef,
    threads_by_ids,
    threads_by_refs,
    visible_refs,
    visible_states,
)
from ncm.errors import ErrorCode, InvalidInput
from ncm.kit.pagination import Page, make_page, page_size
from ncm.schema.accounts.types import User, load_user
from ncm.schema.base import (
    Connection,
    Error,
    ModelView,
    Node,
    connection_from,
    from_global_id,
    to_global_id,
)
from ncm.schema.context import Info
from ncm.schema.nodes import register_node, register_node_resolver

strawberry.enum(
    CommentOrder,
    name="CommentOrder",
    description="NEWEST first; HOT by likes and replies with time decay; RECOMMENDED: HOT "
    "with the newest comments of the last day placed on the first page.",
)
strawberry.enum(m.TargetType, name="CommentTargetType")
strawberry.enum(m.ReportReason, name="CommentReportReason")
strawberry.enum(m.ReportStatus, name="CommentReportStatus")
strawberry.enum(m.ModerationKind, name="ModerationActionKind")

# How a thread's target is named in global ids.
TARGET_NODE_TYPES = {
    m.TargetType.TRACK: "Track",
    m.TargetType.ALBUM: "Album",
    m.TargetType.PLAYLIST: "Playlist",
}
_TARGET_BY_NODE = {name: kind for kind, name in TARGET_NODE_TYPES.items()}
REPLY_PREVIEW_MAX = 10


def thread_ref(thread_id: str, *, field: str = "threadId") -> ThreadRef:
    """The thread a CommentThread id names; a Track, Album or Playlist id is refused with
    the way to its thread's id."""
    type_name, key = from_global_id(thread_id, field=field)
    if type_name in _TARGET_BY_NODE:
        raise InvalidInput(
            f"This id is a {type_name}, not a CommentThread: get the {type_name}'s thread id "
            f"with commentThread(targetId: <this id>) {{ id }}.",
            field=field,
            code=ErrorCode.INVALID_ID,
        )
    if type_name != "CommentThread":
        raise InvalidInput(
            "This id is not a CommentThread.", field=field, code=ErrorCode.INVALID_ID
        )
    return ThreadRef.from_key(key)


def target_ref(target_id: str, *, field: str = "targetId") -> ThreadRef:
    type_name, pk = from_global_id(target_id, field=field)
    kind = _TARGET_BY_NODE.get(type_name)
    if kind is None:
        raise InvalidInput(
            "Comments belong to a Track, an Album or a Playlist.",
            field=field,
            code=ErrorCode.INVALID_ID,
        )
    return ThreadRef(kind, pk)


@strawberry.type(description="The comments of one track, album or playlist.")
class CommentThread(Node):
    ref: strawberry.Private[ThreadRef]
    thread_pk: strawberry.Private[int | None]
    target_type: m.TargetType
    target_id: strawberry.ID = strawberry.field(description="The Track, Album or Playlist.")
    comment_count: int = strawberry.field(description="Visible comments, replies included.")

    @classmethod
    def build(cls, ref: ThreadRef, row: m.CommentThread | None) -> CommentThread:
        return cls(
            id=to_global_id("CommentThread", ref.key),
            ref=ref,
            thread_pk=row.id if row else None,
            target_type=ref.target_type,
            target_id=to_global_id(TARGET_NODE_TYPES[ref.target_type], ref.target_id),
            comment_count=row.comment_count if row else 0,
        )

    @strawberry.field(description="Top-level comments; open a floor with `Comment.replies`.")
    async def comments(
        self,
        info: Info,
        order: CommentOrder = CommentOrder.RECOMMENDED,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Comment]:
        return await thread_comments(info, self.thread_pk, order, first, after)


async def thread_comments(
    info: Info, thread_pk: int | None, order: CommentOrder, first: int | None, after: str | None
) -> Connection[Comment]:
    authors: dict[int, accounts.Profile] = {}
    page = await comments.thread_page(thread_pk, order, first, after, authors=authors)
    _prime_profiles(info, authors)
    return await comment_connection(info, page)


async def track_or_album_page(
    info: Info, ref: ThreadRef, order: CommentOrder, first: int | None, after: str | None
) -> Connection[Comment] | None:
    """A NEWEST or HOT page of a track's or an album's thread, read with the thread row and
    the authors in one statement (the rows primed into the request's loaders); None when the
    target has no thread row, which ``load_thread`` then looks into."""
    authors: dict[int, accounts.Profile] = {}
    thread, page = await pages.thread_with_top_page(ref, order, first, after, authors=authors)
    if thread is None:
        return None
    loaders = info.context.loaders
    loaders.one(threads_by_refs).prime(ref, thread)
    _prime_profiles(info, authors)
    return await comment_connection(info, page)


def _prime_profiles(info: Info, authors: dict[int, accounts.Profile]) -> None:
    profiles = info.context.loaders.one(accounts.profiles_by_ids)
    for pk, profile in authors.items():
        profiles.prime(pk, profile)


async def _visible_to(
    scope: tuple[UserModel | None], refs: Sequence[ThreadRef]
) -> dict[ThreadRef, bool]:
    # The loader's scope is a tuple: an anonymous viewer (None) still needs a scope.
    return await visible_states(scope[0], refs)


async def load_thread(info: Info, ref: ThreadRef) -> CommentThread | None:
    """The thread if the viewer may see its target (rows and checks batched per request).

    A track's or an album's thread row is proof enough that its target exists (they are
    public), which saves a query on every page; playlists are checked every time.
    """
    row = await info.context.loaders.one(threads_by_refs).load(ref)
    if row is None or ref.target_type == m.TargetType.PLAYLIST:
        viewer = await info.context.viewer()
        if not await info.context.loaders.one(_visible_to, (viewer,)).load(ref):
            return None
    return CommentThread.build(ref, row)


@strawberry.type(
    description="A comment or a reply. Deleted ones keep their place with no text."
    " Fetch one with `comment(id)`: what it shows depends on who asks."
)
class Comment(Node, ModelView):
    id: strawberry.ID
    pk: strawberry.Private[int]
    author_pk: strawberry.Private[int]
    thread_pk: strawberry.Private[int]
    parent_pk: strawberry.Private[int | None]
    reply_to_pk: strawberry.Private[int | None]
    body: str | None = strawberry.field(description="Null when deleted (or hidden from you).")
    deleted: bool
    hidden: bool = strawberry.field(description="Hidden by a moderator (its author sees it).")
    like_count: int
    reply_count: int = strawberry.field(description="Visible replies in this floor.")
    created_at: datetime
    edited_at: datetime | None
    author: User | None = strawberry.field(description="Null on a deleted comment.")
    liked_by_viewer: bool = strawberry.field(
        description="Whether the viewer likes it (false when anonymous)."
    )

    @classmethod
    def for_viewer(
        cls, c: m.Comment, viewer: UserModel | None, author: accounts.Profile | None, liked: bool
    ) -> Comment:
        """Build with :func:`comment_views`, which loads authors and likes for many at once
        (plain fields resolve far faster than a DataLoader call per comment)."""
        readable = c.state == m.CommentState.VISIBLE or (
            c.state == m.CommentState.HIDDEN and comments.can_read_hidden(viewer, c)
        )
        return _build_comment(
            c,
            body=c.body if readable else None,
            deleted=c.state == m.CommentState.DELETED,
            hidden=c.state == m.CommentState.HIDDEN,
            author=_build_author(author)
            if author is not None and c.state != m.CommentState.DELETED
            else None,
            liked_by_viewer=liked,
        )

    @strawberry.field(description="The top-level comment of this reply's floor.")
    async def parent(self, info: Info) -> Comment | None:
        return await _comment(info, self.parent_pk)

    @strawberry.field(description="The comment this reply answers (the parent or a reply).")
    async def reply_to(self, info: Info) -> Comment | None:
        return await _comment(info, self.reply_to_pk)

    @strawberry.field
    async def thread(self, info: Info) -> CommentThread:
        row = await info.context.loaders.one(threads_by_ids).load(self.thread_pk)
        return CommentThread.build(ThreadRef.of(row), row)

    @strawberry.field(description="This floor's replies, oldest first.")
    async def replies(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Comment]:
        if self.parent_pk is not None:
            return await comment_connection(info, Page([], [], False))
        size = page_size(first)
        if after is None and size <= REPLY_PREVIEW_MAX:
            # A first page for every comment of a list costs one query (a reply preview).
            rows = await info.context.loaders.many(pages.first_replies, size + 1).load(self.pk)
            page = make_page(rows, size, lambda c: [c.id])
        else:
            page = await comments.replies(self.pk, first, after)
        return await comment_connection(info, page)


# A page builds many: the constructors, kept (see ModelView.builder).
_build_comment = Comment.builder("body", "deleted", "hidden", "author", "liked_by_viewer")
_build_author = User.builder()


async def comment_views(info: Info, rows: Sequence[m.Comment]) -> list[Comment]:
    """The API's view of these comments for this viewer: authors and likes in one batch.

    The viewer's row is loaded only when a hidden comment needs their role (lists never
    hold hidden comments); likes need only the id from the token.
    """
    ctx = info.context
    viewer = None
    if ctx.token_invalid or any(r.state == m.CommentState.HIDDEN for r in rows):
        viewer = await ctx.viewer()
    viewer_id = viewer.id if viewer is not None else ctx.viewer_id
    authors_loading = ctx.loaders.one(accounts.profiles_by_ids).load_many(
        [r.author_id for r in rows]
    )
    if viewer_id is None:
        authors, liked = await authors_loading, [False] * len(rows)
    else:
        likes = ctx.loaders.one(comments.liked_states, viewer_id).load_many([r.id for r in rows])
        authors, liked = await asyncio.gather(authors_loading, likes)
    return [
        Comment.for_viewer(r, viewer, a, bool(f))
        for r, a, f in zip(rows, authors, liked, strict=True)
    ]


async def comment_view(info: Info, row: m.Comment) -> Comment:
    return (await comment_views(info, [row]))[0]


async def _comment(info: Info, pk: int | None) -> Comment | None:
    if pk is None:
        return None
    row = await info.context.loaders.one(comments.comments_by_ids).load(pk)
    return await comment_view(info, row) if row else None


async def comment_connection(info: Info, page: Page[m.Comment]) -> Connection[Comment]:
    return connection_from(page, await comment_views(info, page.items))  # in the page's order


@strawberry.type(description="A user's report of a comment (moderators see them).")
class CommentReport(ModelView):
    id: strawberry.ID
    pk: strawberry.Private[int]
    comment_pk: strawberry.Private[int]
    reporter_pk: strawberry.Private[int]
    reason: m.ReportReason
    note: str
    status: m.ReportStatus
    created_at: datetime
    resolved_at: datetime | None

    @strawberry.field
    async def comment(self, info: Info) -> Comment | None:
        return await _comment(info, self.comment_pk)

    @strawberry.field
    async def reporter(self, info: Info) -> User | None:
        return await load_user(info, self.reporter_pk)


@strawberry.type(description="One entry of the moderation audit log.")
class ModerationAction(ModelView):
    id: strawberry.ID
    kind: m.ModerationKind
    moderator_pk: strawberry.Private[int | None]
    operator: str = strawberry.field(description="Set when an operator acted from the CLI.")
    comment_id: strawberry.ID | None
    target_user_id: strawberry.ID | None
    reason: str
    created_at: datetime

    @classmethod
    def from_model(cls, a: m.ModerationAction) -> ModerationAction:
        return cls.copy_from(
            a,
            comment_id=to_global_id("Comment", a.comment_id) if a.comment_id else None,
            target_user_id=to_global_id("User", a.target_user_id) if a.target_user_id else None,
        )

    @strawberry.field
    async def moderator(self, info: Info) -> User | None:
        return await load_user(info, self.moderator_pk)


@strawberry.type(description="Banned from commenting until `bannedUntil`.")
class CommentBannedError(Error):
    banned_until: datetime


async def _public_threads(keys: Sequence[int]) -> dict[int, CommentThread]:
    # node(id) answers what anyone may see; a private playlist's thread needs commentThread.
    refs = []
    for key in keys:
        try:
            refs.append(ThreadRef.from_key(key))
        except InvalidInput:
            continue
    seen = await visible_refs(None, refs)
    rows = await threads_by_refs([r for r in refs if r in seen])
    return {r.key: CommentThread.build(r, rows.get(r)) for r in refs if r in seen}


register_node("CommentThread", _public_threads, lambda t: t)


async def visible_comment(info: Info, pk: int) -> Comment | None:
    """A comment as ``comment(id)`` and ``node(id)`` show it, or ``None`` when it does not
    exist, is hidden from this viewer (author and moderators see it), or its target is not
    theirs to see. Rows, threads and visibility go through the request's loaders."""
    loaders = info.context.loaders
    row = await loaders.one(comments.comments_by_ids).load(pk)
    if row is None:
        return None
    viewer = await info.context.viewer()
    if row.state == m.CommentState.HIDDEN and not comments.can_read_hidden(viewer, row):
        return None
    thread = await loaders.one(threads_by_ids).load(row.thread_id)
    if thread is None or not await loaders.one(_visible_to, (viewer,)).load(ThreadRef.of(thread)):
        return None
    return await comment_view(info, row)


register_node_resolver("Comment", visible_comment)
