from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from ncm.billing.models import ClaimAction, ClaimState, EventStatus, Interval

# Every Stripe plan a plan points at today becomes its first price version.
BACKFILL_PRICES = (
    "INSERT INTO billing_plan_prices (plan_id, stripe_plan_id, amount, currency, interval,"
    " created_at) SELECT id, stripe_plan_id, amount, currency, interval,"
    " COALESCE(synced_at, created_at) FROM billing_plans WHERE stripe_plan_id IS NOT NULL"
)


# SQLite rebuilds the table to alter a column and drops its indexes: put them back (a no-op
# on PostgreSQL, where they were never dropped).
RESTORE_EVENT_INDEXES = [
    'CREATE INDEX IF NOT EXISTS "idx_billing_str_status_7fc580"'
    ' ON "billing_stripe_events" ("status", "id")',
    'CREATE INDEX IF NOT EXISTS "idx_billing_str_created_3fc45a"'
    ' ON "billing_stripe_events" ("created", "id")',
]


class Migration(migrations.Migration):
    dependencies = [("ncm", "0010_security")]

    initial = False

    operations = [
        ops.CreateModel(
            name="PlanPrice",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "plan",
                    fields.ForeignKeyField(
                        "ncm.Plan",
                        source_field="plan_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="prices",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("stripe_plan_id", fields.CharField(unique=True, max_length=255)),
                ("amount", fields.BigIntField()),
                ("currency", fields.CharField(max_length=3)),
                (
                    "interval",
                    fields.CharEnumField(
                        description="MONTH: MONTH\nYEAR: YEAR", enum_type=Interval, max_length=8
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "billing_plan_prices", "app": "ncm", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="SubscriptionClaim",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "user",
                    fields.OneToOneField(
                        "ncm.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="billing_claim",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "action",
                    fields.CharEnumField(
                        description="START: START\nCHANGE: CHANGE",
                        enum_type=ClaimAction,
                        max_length=8,
                    ),
                ),
                ("key", fields.CharField(max_length=255)),
                (
                    "state",
                    fields.CharEnumField(
                        description="PENDING: PENDING\nDONE: DONE",
                        enum_type=ClaimState,
                        max_length=8,
                    ),
                ),
                ("subscription_ref", fields.CharField(null=True, max_length=255)),
                ("started_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "finished_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={"table": "billing_subscription_claims", "app": "ncm", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.AlterField(
            model_name="StripeEvent",
            name="status",
            field=fields.CharEnumField(
                default=EventStatus.PENDING,
                description="PENDING: PENDING\nPROCESSED: PROCESSED\nIGNORED: IGNORED\nFAILED: FAILED\nWAITING: WAITING",
                enum_type=EventStatus,
                max_length=10,
            ),
        ),
        ops.RunSQL(RESTORE_EVENT_INDEXES),
        ops.AddField(
            model_name="StripeEvent",
            name="waiting_on",
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddIndex(
            model_name="StripeEvent",
            index=Index(fields=["waiting_on"]),
        ),
        ops.RunSQL([BACKFILL_PRICES], ["DELETE FROM billing_plan_prices"]),
    ]
