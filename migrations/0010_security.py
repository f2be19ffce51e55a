from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

# The account region decides licensing when no edge header does (docs/security.md): when it
# last changed (once per 30 days for a user) and an audit log of every change.


class Migration(migrations.Migration):
    dependencies = [("ncm", "0009_playback")]

    initial = False

    operations = [
        ops.CreateModel(
            name="RegionChange",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "ncm.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="region_changes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("old_region", fields.CharField(null=True, max_length=2)),
                ("new_region", fields.CharField(null=True, max_length=2)),
                ("source", fields.CharField(max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "region_changes",
                "app": "ncm",
                "indexes": [Index(fields=["user_id", "id"])],
                "pk_attr": "id",
                "table_description": "The audit log of account regions (which decide licensing"
                " when no edge header does):",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="User",
            name="region_changed_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
