"""Comment text: what is kept, what is removed, how long it may be."""

from __future__ import annotations

import re
import unicodedata

from ncm.comments.errors import CommentsErrorCode
from ncm.errors import ErrorCode, InvalidInput

MAX_LENGTH = 1000  # characters (code points) after cleaning
REASON_LENGTH = 500

# Bidirectional embeddings, overrides and isolates: invisible, and used to disguise text.
_BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)], None)
_BLANK_LINES = re.compile(r"\n{3,}")


def _clean(raw: str) -> str:
    text = unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\t", " "))
    text = "".join(
        ch for ch in text if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cs")
    ).translate(_BIDI_CONTROLS)
    return _BLANK_LINES.sub("\n\n", text).strip()


def clean_body(raw: str, *, field: str = "body") -> str:
    """NFC-normalised text with control characters removed and at most one blank line in a row.

    Every script and emoji stays (zero-width joiners and variation selectors included); line
    breaks stay, tabs become spaces; other control characters, lone surrogates and bidi
    overrides go. Empty after trimming, or longer than :data:`MAX_LENGTH`, is rejected.
    """
    text = _clean(raw)
    if not text:
        raise InvalidInput(
            "A comment cannot be empty.", field=field, code=CommentsErrorCode.EMPTY_COMMENT
        )
    if len(text) > MAX_LENGTH:
        raise InvalidInput(
            f"A comment holds at most {MAX_LENGTH} characters ({len(text)} given).",
            field=field,
            code=CommentsErrorCode.COMMENT_TOO_LONG,
        )
    return text


def clean_reason(raw: str | None, *, required: bool, field: str = "reason") -> str:
    """A moderator's or reporter's reason: cleaned like a comment, at most 500 characters."""
    text = _clean(raw or "")
    if required and not text:
        raise InvalidInput("Give a reason.", field=field, code=CommentsErrorCode.REASON_REQUIRED)
    if len(text) > REASON_LENGTH:
        raise InvalidInput(
            f"A reason holds at most {REASON_LENGTH} characters.",
            field=field,
            code=ErrorCode.TOO_LONG,
        )
    return text
