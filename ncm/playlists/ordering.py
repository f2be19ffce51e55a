"""Sort keys with gaps: an insert or a move writes only the rows that move.

Entries (and a user's own list of playlists) are ordered by an integer ``sort_key`` spaced
``GAP`` apart. New rows take keys evenly spread between their neighbours; when a gap is
used up the whole list is renumbered once (two set-based UPDATEs), which is rare.
"""

from __future__ import annotations

GAP = 1 << 20


def keys_between(before: int | None, after: int | None, n: int) -> list[int] | None:
    """``n`` increasing keys strictly between two neighbours (``None``: the list's end).

    ``None`` when the gap is too small: renumber, then ask again.
    """
    if n <= 0:
        return []
    if before is None and after is None:
        return [GAP * (i + 1) for i in range(n)]
    if after is None:
        assert before is not None
        return [before + GAP * (i + 1) for i in range(n)]
    if before is None:
        return [after - GAP * (n - i) for i in range(n)]
    step = (after - before) // (n + 1)
    if step < 1:
        return None
    return [before + step * (i + 1) for i in range(n)]
