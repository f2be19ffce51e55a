"""How comments are ordered (docs/comments.md explains the choices).

HOT: ``log10(max(1, likes + 2 * replies)) + created_epoch_seconds / 45000``.
The time term grows by one every 45,000 s (12.5 h), so ten times the engagement is worth
12.5 hours of freshness; equivalently a comment must double its engagement every
45,000 * log10(2) ~ 3.76 h of age to keep its rank against newer ones. The age never
changes between two comments, so the order needs no periodic rescoring: the score is
stored, indexed with the thread, and rewritten only in the transaction of a like, an
unlike or a reply count change.

RECOMMENDED: HOT, with the :data:`FRESH_COUNT` newest comments of the last
:data:`FRESH_WINDOW` placed at the positions :data:`FRESH_SLOTS` (0-based) of the first page.
They are taken out of the HOT stream, so every comment appears exactly once.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from enum import StrEnum

from ncm.comments.models import CommentState

HOT_SECONDS_PER_DECADE = 45_000
REPLY_WEIGHT = 2
FRESH_COUNT = 3
FRESH_WINDOW = timedelta(hours=24)
FRESH_SLOTS = (1, 4, 7)


class CommentOrder(StrEnum):
    NEWEST = "NEWEST"
    HOT = "HOT"
    RECOMMENDED = "RECOMMENDED"


def hot_score(likes: int, replies: int, created_at: datetime) -> float:
    engagement = max(1, likes + REPLY_WEIGHT * replies)
    return math.log10(engagement) + created_at.timestamp() / HOT_SECONDS_PER_DECADE


def listed(state: str, is_reply: bool, reply_count: int) -> bool:
    """Whether a comment shows in its list: visible ones, and a deleted top-level comment as
    a placeholder while it has visible replies. Hidden ones never do."""
    if state == CommentState.VISIBLE:
        return True
    return state == CommentState.DELETED and not is_reply and reply_count > 0
