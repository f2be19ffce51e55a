from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from ncm.stream.models import PlaySource

# The aggregation job seeks the plays it has not counted yet; once counted, a row leaves this
# partial index, so it stays as small as the backlog. Same SQL on PostgreSQL and SQLite.
PENDING_INDEX = "CREATE INDEX play_events_pending_idx ON play_events (id) WHERE aggregated = FALSE"


class Migration(migrations.Migration):
    dependencies = [("ncm", "0008_billing")]

    initial = False

    operations = [
        ops.CreateModel(
            name="PlayEvent",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("play_id", fields.CharField(unique=True, max_length=64)),
                ("user_id", fields.BigIntField()),
                ("track_id", fields.BigIntField()),
                ("started_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("day", fields.DateField()),
                ("seconds_played", fields.IntField()),
                ("counted", fields.BooleanField()),
                (
                    "source",
                    fields.CharEnumField(
                        default=PlaySource.OTHER,
                        description="PLAYLIST: PLAYLIST\nALBUM: ALBUM\nARTIST: ARTIST\nSEARCH: SEARCH\nRADIO: RADIO\nSHARE: SHARE\nLIBRARY: LIBRARY\nOTHER: OTHER",
                        enum_type=PlaySource,
                        max_length=16,
                    ),
                ),
                ("share_id", fields.BigIntField(null=True)),
                ("aggregated", fields.BooleanField(default=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "play_events",
                "app": "ncm",
                "indexes": [Index(fields=["user_id", "id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="UserDailyActivity",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("user_id", fields.BigIntField()),
                ("day", fields.DateField()),
                ("plays", fields.IntField(default=0)),
            ],
            options={
                "table": "user_daily_activity",
                "app": "ncm",
                "unique_together": (("user_id", "day"),),
                "indexes": [Index(fields=["day", "user_id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.RunSQL([PENDING_INDEX], ["DROP INDEX play_events_pending_idx"]),
    ]
