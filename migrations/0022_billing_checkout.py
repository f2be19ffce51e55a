"""Issue 13: at most one live subscription per user, hosted Checkout included.

* ``billing_checkout_sessions``: the Checkout sessions ncm creates, so a start that succeeds
  can expire the user's other open ones.
* ``billing_duplicate_subscriptions``: a second live subscription (the race no expiry can
  prevent), cancelled at once and refunded; one row each, so it is never refunded twice.
"""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from ncm.billing.models import CheckoutState, DuplicateState


class Migration(migrations.Migration):
    dependencies = [("ncm", "0021_compensation_apply")]

    initial = False

    operations = [
        ops.CreateModel(
            name="CheckoutSession",
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
                        related_name="billing_checkouts",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("stripe_id", fields.CharField(unique=True, max_length=255)),
                ("stripe_plan_id", fields.CharField(default="", max_length=255)),
                (
                    "state",
                    fields.CharEnumField(
                        default=CheckoutState.OPEN,
                        description="OPEN: OPEN\nCOMPLETE: COMPLETE\nEXPIRED: EXPIRED",
                        enum_type=CheckoutState,
                        max_length=8,
                    ),
                ),
                ("subscription_ref", fields.CharField(null=True, max_length=255)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("closed_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "billing_checkout_sessions",
                "app": "ncm",
                "indexes": [Index(fields=["user_id", "state"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="DuplicateSubscription",
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
                        related_name="billing_duplicates",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("subscription_ref", fields.CharField(unique=True, max_length=255)),
                ("kept_ref", fields.CharField(max_length=255)),
                (
                    "state",
                    fields.CharEnumField(
                        description="CANCELED: CANCELED\nREFUNDED: REFUNDED",
                        enum_type=DuplicateState,
                        max_length=8,
                    ),
                ),
                ("invoice_ref", fields.CharField(null=True, max_length=255)),
                ("payment_ref", fields.CharField(null=True, max_length=255)),
                ("refund_ref", fields.CharField(null=True, max_length=255)),
                ("amount_refunded", fields.BigIntField(default=0)),
                ("currency", fields.CharField(default="", max_length=3)),
                ("resolved_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "billing_duplicate_subscriptions",
                "app": "ncm",
                "indexes": [Index(fields=["resolved_at"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
