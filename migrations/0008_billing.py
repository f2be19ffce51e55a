from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from ncm.billing.models import EventStatus, Interval, PeriodSource


class Migration(migrations.Migration):
    dependencies = [("ncm", "0007_search_vectors")]

    initial = False

    operations = [
        ops.CreateModel(
            name="ChargeRefund",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("charge_ref", fields.CharField(unique=True, max_length=255)),
                ("invoice_ref", fields.CharField(null=True, max_length=255)),
                ("amount_refunded", fields.BigIntField()),
                ("amount", fields.BigIntField()),
                ("currency", fields.CharField(max_length=3)),
                ("fully_refunded", fields.BooleanField(default=False)),
                ("refunded_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "billing_charge_refunds",
                "app": "ncm",
                "indexes": [Index(fields=["invoice_ref"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Customer",
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
                        related_name="billing_customer",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("stripe_id", fields.CharField(unique=True, max_length=255)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "billing_customers", "app": "ncm", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="MembershipPeriod",
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
                        related_name="membership_periods",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "source",
                    fields.CharEnumField(
                        description="PAID: PAID\nTRIAL: TRIAL\nGRACE: GRACE\nCOMPENSATION: COMPENSATION\nADMIN_GRANT: ADMIN_GRANT",
                        enum_type=PeriodSource,
                        max_length=16,
                    ),
                ),
                ("reference", fields.CharField(max_length=255)),
                ("tier", fields.CharField(default="VIP", max_length=16)),
                ("starts_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("ends_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("amount", fields.BigIntField(default=0)),
                ("currency", fields.CharField(default="", max_length=3)),
                ("discount", fields.BigIntField(default=0)),
                ("tax", fields.BigIntField(default=0)),
                ("refunded", fields.BigIntField(default=0)),
                ("revoked_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("subscription_ref", fields.CharField(null=True, max_length=255)),
                ("charge_ref", fields.CharField(null=True, max_length=255)),
                ("note", fields.CharField(default="", max_length=500)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "membership_periods",
                "app": "ncm",
                "unique_together": (("reference", "user"),),
                "indexes": [Index(fields=["user_id", "ends_at"]), Index(fields=["charge_ref"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Plan",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("code", fields.CharField(unique=True, max_length=64)),
                ("name", fields.CharField(max_length=200)),
                ("tier", fields.CharField(default="VIP", max_length=16)),
                (
                    "interval",
                    fields.CharEnumField(
                        description="MONTH: MONTH\nYEAR: YEAR", enum_type=Interval, max_length=8
                    ),
                ),
                ("amount", fields.BigIntField()),
                ("currency", fields.CharField(max_length=3)),
                ("active", fields.BooleanField(default=True)),
                ("stripe_product_id", fields.CharField(null=True, max_length=255)),
                ("stripe_plan_id", fields.CharField(null=True, unique=True, max_length=255)),
                ("synced_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "billing_plans", "app": "ncm", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="StripeEvent",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("stripe_id", fields.CharField(unique=True, max_length=255)),
                ("type", fields.CharField(max_length=100)),
                ("created", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("payload", fields.TextField(unique=False)),
                (
                    "status",
                    fields.CharEnumField(
                        default=EventStatus.PENDING,
                        description="PENDING: PENDING\nPROCESSED: PROCESSED\nIGNORED: IGNORED\nFAILED: FAILED",
                        enum_type=EventStatus,
                        max_length=10,
                    ),
                ),
                ("attempts", fields.IntField(default=0)),
                ("last_error", fields.TextField(default="", unique=False)),
                ("received_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "processed_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "billing_stripe_events",
                "app": "ncm",
                "indexes": [Index(fields=["status", "id"]), Index(fields=["created", "id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Subscription",
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
                        related_name="billing_subscriptions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("stripe_id", fields.CharField(unique=True, max_length=255)),
                ("stripe_plan_id", fields.CharField(default="", max_length=255)),
                ("status", fields.CharField(max_length=32)),
                (
                    "current_period_start",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "current_period_end",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("cancel_at_period_end", fields.BooleanField(default=False)),
                (
                    "canceled_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("ended_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "trial_start",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("trial_end", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "billing_subscriptions",
                "app": "ncm",
                "indexes": [Index(fields=["user_id", "id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
