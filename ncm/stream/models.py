"""Models for playback: play events and per-user daily activity (for MAU)."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class PlaySource(StrEnum):
    PLAYLIST = "PLAYLIST"
    ALBUM = "ALBUM"
    ARTIST = "ARTIST"
    SEARCH = "SEARCH"
    RADIO = "RADIO"
    SHARE = "SHARE"
    LIBRARY = "LIBRARY"
    OTHER = "OTHER"


class PlayEvent(Model):
    # One reported play. ``play_id`` is the client's idempotency key; ``aggregated`` flips
    # once the aggregation job has counted the row (a partial index finds the pending ones;
    # the batched flush writes rows already counted). On PostgreSQL the table is partitioned
    # by ``day`` (ncm/kit/partitions.py), so its unique keys include ``day``: the primary key
    # is (id, day) there and a play is unique by (play_id, day) (docs/scaling.md).
    id = fields.BigIntField(primary_key=True)
    play_id = fields.CharField(max_length=64)
    user_id = fields.BigIntField()
    track_id = fields.BigIntField()
    started_at = fields.DatetimeField()
    day = fields.DateField()  # started_at's UTC date: the MAU day
    seconds_played = fields.IntField()
    counted = fields.BooleanField()  # seconds_played >= the counting threshold
    source = fields.CharEnumField(PlaySource, max_length=16, default=PlaySource.OTHER)
    share_id = fields.BigIntField(null=True)
    aggregated = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "play_events"
        unique_together = (("play_id", "day"),)
        indexes = [Index(fields=("user_id", "id"))]


class PlayCountDelta(Model):
    # Play counts the batched ingestion wrote with its plays, not yet added to the track (or
    # the share link): folded set-based every few seconds (``ncm.stream.ingest.fold_counts``),
    # so a track is updated once per fold, not once per batch. No index: written and emptied
    # whole.
    id = fields.BigIntField(primary_key=True)
    track_id = fields.BigIntField(null=True)
    share_id = fields.BigIntField(null=True)
    plays = fields.IntField()

    class Meta:
        table = "play_count_deltas"


class UserDailyActivity(Model):
    # A user was active (played something) on a UTC day: MAU is the distinct users of a
    # month's rows. Upserted set-based by the play aggregation job.
    id = fields.BigIntField(primary_key=True)
    user_id = fields.BigIntField()
    day = fields.DateField()
    plays = fields.IntField(default=0)

    class Meta:
        table = "user_daily_activity"
        unique_together = (("user_id", "day"),)
        indexes = [Index(fields=("day", "user_id"))]
