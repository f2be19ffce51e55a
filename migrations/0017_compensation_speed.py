"""Compensation at scale (issue 14): fewer index entries per gift row written in bulk.

* ``membership_periods.charge_ref`` is indexed only where set: a campaign's COMPENSATION
  periods (a million at once) have no charge and no longer add an index entry each.
* ``compensation_grants`` loses its ``(user_id, state)`` index (a viewer's grants are found
  through the few campaigns open for claims and the unique ``(campaign_id, user_id)``) and,
  on PostgreSQL, keeps half of each page free (fillfactor 50, for rows written from now on):
  the auto-apply's UPDATE of every grant of a chunk (state, claimed_at, auto_applied, none
  indexed) is a HOT update, with no new entry in either index.
* The Stripe mover's queue reads pending moves soonest renewal first.
"""

from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from ncm.kit.migrate import postgres_only

CHARGE_REF = (
    "CREATE INDEX membership_periods_charge_ref_idx ON membership_periods (charge_ref)"
    " WHERE charge_ref IS NOT NULL"
)

GRANTS_FILLFACTOR = "ALTER TABLE compensation_grants SET (fillfactor = 50)"


class Migration(migrations.Migration):
    dependencies = [("ncm", "0016_finance_rollup")]

    initial = False

    operations = [
        ops.RemoveIndex(
            model_name="MembershipPeriod",
            name=None,
            fields=["charge_ref"],
        ),
        ops.RunSQL([CHARGE_REF], ["DROP INDEX membership_periods_charge_ref_idx"]),
        ops.RemoveIndex(
            model_name="Grant",
            name=None,
            fields=["user_id", "state"],
        ),
        ops.RunPython(
            postgres_only(GRANTS_FILLFACTOR),
            postgres_only("ALTER TABLE compensation_grants RESET (fillfactor)"),
        ),
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
