"""Tortoise models of the finance domain: exchange rates finance keeps, closed months (their
stored figures, the refund snapshot taken at close, the audit of closing and re-opening) and
the daily play rollup behind the listening mix."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class Rate(Model):
    # 1 unit of ``base`` is ``rate`` units of ``quote`` from ``valid_from`` (a UTC day) until
    # the next rate of the same pair. ``rate`` is a decimal string: never a float.
    id = fields.BigIntField(primary_key=True)
    base = fields.CharField(max_length=3)
    quote = fields.CharField(max_length=3)
    valid_from = fields.DateField()
    rate = fields.CharField(max_length=40)
    set_by = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "finance_rates"
        unique_together = (("base", "quote", "valid_from"),)


class ClosedMonth(Model):
    # A closed month: its figures as computed at ``closed_at`` (JSON), never changed again.
    id = fields.BigIntField(primary_key=True)
    month = fields.DateField(unique=True)  # the first day of the month
    closed_at = fields.DatetimeField()
    closed_by = fields.CharField(max_length=200, default="")
    figures = fields.TextField()

    class Meta:
        table = "finance_closed_months"


class CloseRefund(Model):
    # What had been refunded of a paid period touching a closed month when it was closed:
    # a later refund is the growth past this (refunds only grow).
    id = fields.BigIntField(primary_key=True)
    month = fields.DateField()
    period_id = fields.BigIntField()
    refunded = fields.BigIntField()
    revoked = fields.BooleanField(default=False)

    class Meta:
        table = "finance_close_refunds"
        unique_together = (("month", "period_id"),)


class MonthAudit(Model):
    # Every close and re-open, who did it and why.
    id = fields.BigIntField(primary_key=True)
    month = fields.DateField()
    action = fields.CharField(max_length=16)  # CLOSE, REOPEN
    actor = fields.CharField(max_length=200)
    reason = fields.CharField(max_length=500, default="")
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "finance_month_audit"
        indexes = [Index(fields=("month", "id"))]


class PlayRollup(Model):
    # Counted plays of one track on one UTC day (the listening mix reads this).
    id = fields.BigIntField(primary_key=True)
    day = fields.DateField()
    track_id = fields.BigIntField()
    plays = fields.BigIntField()

    class Meta:
        table = "finance_play_rollup"
        unique_together = (("day", "track_id"),)


class PlayRollupDay(Model):
    # A day the rollup holds; days not listed are read from play_events directly.
    id = fields.BigIntField(primary_key=True)
    day = fields.DateField(unique=True)
    rolled_at = fields.DatetimeField()

    class Meta:
        table = "finance_play_rollup_days"


class PlayRollupWatermark(Model):
    # One row (id 1): every day up to ``through_day`` is rolled up for good (rolled after
    # plays for it could no longer arrive), so play_events of those days may be dropped.
    id = fields.BigIntField(primary_key=True)
    through_day = fields.DateField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "finance_play_rollup_watermark"


class MonthRollup(Model):
    # One open month's report figures for one grouping ('' = by currency, 'plan', 'region'),
    # as ``figures.compute`` gave them at ``computed_at`` (JSON of ``figures.Block``).
    id = fields.BigIntField(primary_key=True)
    month = fields.DateField()  # the first day of the month
    grouping = fields.CharField(max_length=16)
    figures = fields.TextField()
    computed_at = fields.DatetimeField()

    class Meta:
        table = "finance_month_rollup"
        unique_together = (("month", "grouping"),)


class MonthRollupPart(Model):
    # One bucket of users' share of a stored month (``ncm.finance.rollup``): the users with
    # an id in ``[bucket * BUCKET_USERS, (bucket + 1) * BUCKET_USERS)``. The month's
    # ``MonthRollup`` is the sum of its parts, so a change to a few users' ledger computes
    # their buckets again and folds the difference in (migration 0020).
    id = fields.BigIntField(primary_key=True)
    month = fields.DateField()  # the first day of the month
    grouping = fields.CharField(max_length=16)
    bucket = fields.IntField()
    figures = fields.TextField()

    class Meta:
        table = "finance_month_rollup_parts"
        unique_together = (("grouping", "bucket", "month"),)


class RollupDirty(Model):
    # Written by database triggers (migrations 0016, 0020) when a PAID ledger row, a user's
    # region or activity rows change: every stored month from ``from_day``'s month on is
    # stale for each grouping whose bit (1 '', 2 plan, 4 region) is not yet set in ``done``,
    # for the user ``user_id`` alone, or for every user when it is null (a statement that
    # touched many users, a truncate).
    id = fields.BigIntField(primary_key=True)
    from_day = fields.IntField()  # a UTC day number (days since 1970-01-01)
    user_id = fields.BigIntField(null=True)
    done = fields.SmallIntField(default=0)

    class Meta:
        table = "finance_rollup_dirty"


class PlayRollupMonth(Model):
    # Counted plays of one track in one month, summed from the daily rollup once every day
    # of the month is final (at or before the watermark); the mix reads these for such
    # months (a year is twelve of these per track instead of 365 daily rows).
    id = fields.BigIntField(primary_key=True)
    month = fields.DateField()  # the first day of the month
    track_id = fields.BigIntField()
    plays = fields.BigIntField()

    class Meta:
        table = "finance_play_rollup_months"
        unique_together = (("month", "track_id"),)
