"""Comment-specific expected failures."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from ncm.errors import Conflict, NcmError


class CommentsErrorCode(StrEnum):
    COMMENT_BANNED = "COMMENT_BANNED"
    DUPLICATE_COMMENT = "DUPLICATE_COMMENT"
    EDIT_WINDOW_CLOSED = "EDIT_WINDOW_CLOSED"
    WRONG_THREAD = "WRONG_THREAD"
    COMMENT_HIDDEN = "COMMENT_HIDDEN"
    EMPTY_COMMENT = "EMPTY_COMMENT"
    COMMENT_TOO_LONG = "COMMENT_TOO_LONG"
    REASON_REQUIRED = "REASON_REQUIRED"
    SELF_REPORT = "SELF_REPORT"
    NOT_VISIBLE = "NOT_VISIBLE"
    NOT_HIDDEN = "NOT_HIDDEN"
    INVALID_DAYS = "INVALID_DAYS"
    NOT_BANNED = "NOT_BANNED"


class CommentBanned(NcmError):
    """The author is banned from commenting until ``until``."""

    code = CommentsErrorCode.COMMENT_BANNED

    def __init__(self, until: datetime) -> None:
        super().__init__(f"You may not comment until {until.isoformat(timespec='minutes')}.")
        self.until = until


def duplicate_comment() -> Conflict:
    return Conflict(
        "You just posted this in this thread.",
        field="body",
        code=CommentsErrorCode.DUPLICATE_COMMENT,
    )


def edit_window_closed(minutes: int) -> Conflict:
    return Conflict(
        f"A comment can be edited for {minutes} minutes after posting.",
        field="commentId",
        code=CommentsErrorCode.EDIT_WINDOW_CLOSED,
    )
