"""What a thread is about (a track, an album or a playlist) and who may see it.

A thread is named by its target, not by its row: :class:`ThreadRef` has a stable ``key``
before the first comment creates the row, so clients can open (and subscribe to) an empty
thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tortoise.models import Model

from ncm.accounts.models import User
from ncm.catalog.models import Album, Track
from ncm.comments.models import CommentThread, TargetType
from ncm.errors import ErrorCode, InvalidInput, NotFound
from ncm.kit.sql import any_of, fetch, rows_by
from ncm.playlists.models import Playlist

_CODES = {TargetType.TRACK: 1, TargetType.ALBUM: 2, TargetType.PLAYLIST: 3}
_TYPES = {code: kind for kind, code in _CODES.items()}
TARGET_MODELS: dict[TargetType, type[Model]] = {
    TargetType.TRACK: Track,
    TargetType.ALBUM: Album,
    TargetType.PLAYLIST: Playlist,
}


@dataclass(frozen=True)
class ThreadRef:
    target_type: TargetType
    target_id: int

    @property
    def key(self) -> int:
        return self.target_id * 4 + _CODES[self.target_type]

    @classmethod
    def from_key(cls, key: int, *, field: str = "threadId") -> ThreadRef:
        kind = _TYPES.get(key % 4)
        if kind is None or key < 4:
            raise InvalidInput(
                "This thread id is not valid.", field=field, code=ErrorCode.INVALID_ID
            )
        return cls(kind, key // 4)

    @classmethod
    def of(cls, thread: CommentThread) -> ThreadRef:
        return cls(TargetType(thread.target_type), thread.target_id)

    @property
    def table(self) -> str:
        return TARGET_MODELS[self.target_type]._meta.db_table


def not_found() -> NotFound:
    return NotFound("No such comment thread.", field="threadId")


async def visible_refs(viewer: User | None, refs: Iterable[ThreadRef]) -> set[ThreadRef]:
    """The refs whose target exists and the viewer may see (one query per target type;
    private and deleted playlists follow the playlists' own rules)."""
    from ncm.playlists.service import visible_playlists

    by_type: dict[TargetType, list[int]] = {}
    for ref in refs:
        by_type.setdefault(ref.target_type, []).append(ref.target_id)
    seen: set[ThreadRef] = set()
    for kind, ids in by_type.items():
        if kind == TargetType.PLAYLIST:
            found: Iterable[int] = (await visible_playlists(viewer, ids)).keys()
        else:
            where, params = any_of("id", ids, 1)
            table = TARGET_MODELS[kind]._meta.db_table
            found = [r["id"] for r in await fetch(f"SELECT id FROM {table} WHERE {where}", params)]
        seen.update(ThreadRef(kind, i) for i in found)
    return seen


async def visible_states(viewer: User | None, refs: Sequence[ThreadRef]) -> dict[ThreadRef, bool]:
    """Batch form of :func:`visible_refs` for a per-viewer loader."""
    seen = await visible_refs(viewer, refs)
    return {ref: ref in seen for ref in refs}


async def require_visible(viewer: User | None, ref: ThreadRef) -> None:
    if ref not in await visible_refs(viewer, [ref]):
        raise not_found()


async def threads_by_refs(refs: Sequence[ThreadRef]) -> dict[ThreadRef, CommentThread]:
    """The thread rows that exist (one query per target type)."""
    by_type: dict[TargetType, list[int]] = {}
    for ref in refs:
        by_type.setdefault(ref.target_type, []).append(ref.target_id)
    out: dict[ThreadRef, CommentThread] = {}
    for kind, ids in by_type.items():
        # kind is one of TargetType's values, never user text.
        for thread in await rows_by(
            CommentThread, "target_id", ids, f" AND target_type = '{kind}'"
        ):
            out[ThreadRef.of(thread)] = thread
    return out


async def threads_by_ids(ids: Sequence[int]) -> dict[int, CommentThread]:
    return {t.id: t for t in await rows_by(CommentThread, "id", ids)}
