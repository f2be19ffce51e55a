from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from ncm.comments import live
from ncm.comments.targets import require_visible
from ncm.schema.comments.types import Comment, comment_view, thread_ref
from ncm.schema.context import Info
from ncm.schema.loaders import Loaders


@strawberry.type
class CommentsSubscription:
    @strawberry.subscription(
        description="New comments and replies of a thread, from every server, as they are "
        "posted; only those the viewer may see."
    )
    async def comment_added(
        self, info: Info, thread_id: strawberry.ID
    ) -> AsyncGenerator[Comment, None]:
        ref = thread_ref(thread_id)
        viewer = await info.context.viewer()
        await require_visible(viewer, ref)
        async for row in live.comments_added(viewer, ref):
            # Fresh loaders per event: a connection lives for hours, its data must not.
            info.context.loaders = Loaders()
            yield await comment_view(info, row)
