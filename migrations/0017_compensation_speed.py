"""Compensation at scale (issue 14): fewer index entries per gift row written in bulk.

* ``membership_periods.charge_ref`` is indexed only where set: a campaign's COMPENSATION
  periods (a million at once) have no charge and no longer add an index entry each.
* The Stripe mover's queue reads pending moves soonest renewal first.
"""

from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

CHARGE_REF = (
    "CREATE INDEX membership_periods_charge_ref_idx ON membership_periods (charge_ref)"
    " WHERE charge_ref IS NOT NULL"
)


class Migration(migrations.Migration):
    dependencies = [("ncm", "0015_search")]

    initial = False

    operations = [
        ops.RemoveIndex(
            model_name="MembershipPeriod",
            name=None,
            fields=["charge_ref"],
        ),
        ops.RunSQL([CHARGE_REF], ["DROP INDEX membership_periods_charge_ref_idx"]),
        ops.RemoveIndex(
            model_name="StripeShift",
            name=None,
            fields=["status", "id"],
        ),
        ops.AddIndex(
            model_name="StripeShift",
            index=Index(fields=["status", "expected_period_end", "id"]),
        ),
    ]
