"""``ncm seed scale`` (and ``python -m bench seed``): benchmark-scale data, PostgreSQL only.

One entry point for every generator: tracks with their artists, albums and links, and users
(:mod:`ncm.seeding.catalog`), then comments with replies and likes on them
(:mod:`ncm.seeding.comments`). Each run adds rows after the existing ones.
"""

from __future__ import annotations

from ncm.errors import InvalidInput
from ncm.kit.progress import Echo, quiet
from ncm.seeding.catalog import seed_catalog
from ncm.seeding.comments import seed_comments
from ncm.seeding.rows import BENCH_PASSWORD

DEFAULT_HOT_TRACK_SHARE = 0.2

__all__ = ["BENCH_PASSWORD", "DEFAULT_HOT_TRACK_SHARE", "seed_scale"]


async def seed_scale(
    *,
    tracks: int,
    users: int,
    comments: int = 0,
    hot_track_share: float = DEFAULT_HOT_TRACK_SHARE,
    echo: Echo = quiet,
    rebuild_indexes: bool | None = None,
    seed: int | None = None,
) -> dict[str, object]:
    """Add ``tracks`` tracks (with their artists, albums, ...), ``users`` users, then about
    ``comments`` comments (``hot_track_share`` of them on the most played track).

    ``rebuild_indexes``: drop and rebuild indexes around each catalog table's load; ``None``
    decides per table. ``seed`` makes the catalog's values reproducible. Returns rows per
    table, seconds per phase and rows per second (comment figures prefixed ``comments_``).
    """
    if comments < 0:
        raise InvalidInput("Counts cannot be negative.")
    if not 0 <= hot_track_share <= 1:
        raise InvalidInput("The hot track's share must be between 0 and 1.")
    report = await seed_catalog(
        tracks=tracks, users=users, echo=echo, rebuild_indexes=rebuild_indexes, seed=seed
    )
    if comments:
        found = await seed_comments(comments, hot_track_share, echo)
        report.update(
            {k if k.startswith("comments_") else f"comments_{k}": v for k, v in found.items()}
        )
    return report
