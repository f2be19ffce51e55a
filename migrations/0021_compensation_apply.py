"""Compensation auto-apply without a grant update (issue 14).

The auto-apply no longer updates a chunk's grants (the ledger period ``(reference,
user_id)`` records that a grant was applied, ``ncm/compensation/service.py``), so the
grants' table no longer needs the half-empty pages that made that update HOT (fillfactor 50,
``0017_compensation_speed``): pages written from now on are full again, and a campaign's
grants take half the pages to write, to read and to check point. A user's claim still
updates its one grant row (a non-HOT update is one more index entry, per claim).
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

from ncm.kit.migrate import postgres_only


class Migration(migrations.Migration):
    dependencies = [("ncm", "0020_finance_speed")]

    initial = False

    operations = [
        ops.RunPython(
            postgres_only("ALTER TABLE compensation_grants RESET (fillfactor)"),
            postgres_only("ALTER TABLE compensation_grants SET (fillfactor = 50)"),
        ),
    ]
