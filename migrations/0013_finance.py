from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from ncm.kit.migrate import postgres_only

# The play rollup and the listening mix read one day (or a range of days) of counted plays.
PLAYS_BY_DAY = (
    "CREATE INDEX finance_play_events_day_idx ON play_events (day, track_id) WHERE counted = TRUE"
)


# PostgreSQL only: the integers the revenue report reads, kept by PostgreSQL itself in a
# covering partial index (an index-only scan in (user, currency) order; see
# ncm/finance/figures.py PAID_INDEX_COLUMNS, which must match).
PAID_INDEX = (
    "CREATE INDEX finance_paid_periods_idx ON membership_periods (user_id, currency,"
    " (((starts_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01')),"
    " (((ends_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01')), amount, tax, refunded)"
    " INCLUDE (starts_at, ends_at) WHERE source = 'PAID' AND revoked_at IS NULL"
)


class Migration(migrations.Migration):
    dependencies = [("ncm", "0012_compensation")]

    initial = False

    operations = [
        ops.CreateModel(
            name="CloseRefund",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("month", fields.DateField()),
                ("period_id", fields.BigIntField()),
                ("refunded", fields.BigIntField()),
                ("revoked", fields.BooleanField(default=False)),
            ],
            options={
                "table": "finance_close_refunds",
                "app": "ncm",
                "unique_together": (("month", "period_id"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ClosedMonth",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("month", fields.DateField(unique=True)),
                ("closed_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("closed_by", fields.CharField(default="", max_length=200)),
                ("figures", fields.TextField(unique=False)),
            ],
            options={"table": "finance_closed_months", "app": "ncm", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="MonthAudit",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("month", fields.DateField()),
                ("action", fields.CharField(max_length=16)),
                ("actor", fields.CharField(max_length=200)),
                ("reason", fields.CharField(default="", max_length=500)),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "finance_month_audit",
                "app": "ncm",
                "indexes": [Index(fields=["month", "id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PlayRollup",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("day", fields.DateField()),
                ("track_id", fields.BigIntField()),
                ("plays", fields.BigIntField()),
            ],
            options={
                "table": "finance_play_rollup",
                "app": "ncm",
                "unique_together": (("day", "track_id"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PlayRollupDay",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("day", fields.DateField(unique=True)),
                ("rolled_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "finance_play_rollup_days", "app": "ncm", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Rate",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("base", fields.CharField(max_length=3)),
                ("quote", fields.CharField(max_length=3)),
                ("valid_from", fields.DateField()),
                ("rate", fields.CharField(max_length=40)),
                ("set_by", fields.CharField(default="", max_length=200)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "finance_rates",
                "app": "ncm",
                "unique_together": (("base", "quote", "valid_from"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.RunSQL([PLAYS_BY_DAY], ["DROP INDEX finance_play_events_day_idx"]),
        ops.RunPython(
            postgres_only(PAID_INDEX),
            postgres_only("DROP INDEX IF EXISTS finance_paid_periods_idx"),
        ),
    ]
