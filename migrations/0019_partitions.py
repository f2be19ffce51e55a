"""Event tables range-partitioned by day on PostgreSQL (docs/scaling.md, "Partitioning").

``play_events`` (by ``day``), ``promotion_viewers`` (by ``day``) and ``promotion_clicks``
(by ``at``, UTC days) become partitioned tables, keeping their rows: each old table is
attached as one ``<table>_legacy`` partition over its rows' days (no copy; dropped if empty),
a ``<table>_default`` partition catches days without a partition, and daily partitions are
created around today (``ncm.kit.partitions.convert``). PostgreSQL requires the partition key
in every unique key, so the primary keys become (id, day) / (id, at), a play is unique by
(play_id, day) and a click by (event_key, at); the model state says the same.

``play_count_deltas`` holds the play counts the batched ingestion wrote, until they are folded
into the tracks and share links (``ncm.stream.ingest.fold_counts``).

SQLite keeps its plain tables (and their stricter single-column unique keys): the state
operations below change nothing there. Not reversible.
"""

from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint

from ncm.kit.partitions import Table, convert

TABLES = [
    Table("play_events", "day", "date"),
    Table("promotion_viewers", "day", "date"),
    Table("promotion_clicks", "at", "timestamptz"),
]


async def partition(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    if str(client.capabilities.dialect) != "postgres":
        return
    for table in TABLES:
        await convert(client, table)


class StateOnly(ops.TortoiseOperation):
    """Model-state changes whose DDL ``partition`` does by hand (PostgreSQL) or that the
    database needs not (SQLite keeps the stricter unique keys)."""

    def __init__(self, *inner: ops.TortoiseOperation) -> None:
        self.inner = inner

    def describe(self) -> str:
        return "State only: " + "; ".join(op.describe() for op in self.inner)

    def state_forward(self, app_label: str, state: Any) -> None:
        for op in self.inner:
            op.state_forward(app_label, state)


class Migration(migrations.Migration):
    dependencies = [("ncm", "0017_compensation_speed")]

    initial = False

    operations = [
        ops.CreateModel(
            name="PlayCountDelta",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("track_id", fields.BigIntField(null=True)),
                ("share_id", fields.BigIntField(null=True)),
                ("plays", fields.IntField()),
            ],
            options={"table": "play_count_deltas", "app": "ncm", "pk_attr": "id"},
            bases=["Model"],
        ),
        StateOnly(
            ops.AlterField(
                model_name="PlayEvent", name="play_id", field=fields.CharField(max_length=64)
            ),
            ops.AddConstraint(
                model_name="PlayEvent",
                constraint=UniqueConstraint(fields=("play_id", "day"), name=None),
            ),
            ops.AlterField(
                model_name="PromotionClick",
                name="event_key",
                field=fields.CharField(max_length=100),
            ),
            ops.AddConstraint(
                model_name="PromotionClick",
                constraint=UniqueConstraint(fields=("event_key", "at"), name=None),
            ),
        ),
        ops.RunPython(partition),
    ]
