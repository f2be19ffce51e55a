"""Comment-specific expected failures."""

from __future__ import annotations

from datetime import datetime

from ncm.errors import Conflict, NcmError


class CommentBanned(NcmError):
    """The author is banned from commenting until ``until``."""

    code = "COMMENT_BANNED"

    def __init__(self, until: datetime) -> None:
        super().__init__(f"You may not comment until {until.isoformat(timespec='minutes')}.")
        self.until = until


def duplicate_comment() -> Conflict:
    return Conflict("You just posted this in this thread.", field="body", code="DUPLICATE_COMMENT")


def edit_window_closed(minutes: int) -> Conflict:
    return Conflict(
        f"A comment can be edited for {minutes} minutes after posting.",
        field="commentId",
        code="EDIT_WINDOW_CLOSED",
    )
