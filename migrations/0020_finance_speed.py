"""Finance at scale (issue 15): a stale month is folded, not computed again whole.

* ``finance_month_rollup_parts``: each stored month's figures per bucket of users (ids
  ``[b * 4096, (b + 1) * 4096)``, ``ncm.finance.rollup.BUCKET_USERS``); the month's row in
  ``finance_month_rollup`` is their sum. The stored months are deleted here (they have no
  parts yet): the next read or the ``refresh_rollup`` job computes them again.
* ``finance_rollup_dirty.user_id``: the triggers now name the user of every change (one row
  per user and statement, with the first day it touches), so a late invoice makes stale
  only its user's bucket. A statement touching more than 1,000 users still writes one row
  with no user (every user's months from that day on), as a truncate does.
"""

import importlib
from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

MANY = 1000  # users in one statement above which the mark is for every user

PG_DAY = "((({c}) AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"
READ = (
    "user_id",
    "source",
    "starts_at",
    "ends_at",
    "amount",
    "tax",
    "refunded",
    "revoked_at",
    "currency",
    "plan_ref",
)
CHANGED = " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in READ)


def _mark(name: str, source: str) -> str:
    """A statement trigger's function: one dirty row per user of ``source`` (rows ``u``,
    ``d``: a user and a day number), or one for every user past ``MANY`` users."""
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH c AS MATERIALIZED (SELECT u, MIN(d) AS d FROM ({source}) s GROUP BY u)
  INSERT INTO finance_rollup_dirty (from_day, user_id, done)
  SELECT d, u, 0 FROM c WHERE (SELECT COUNT(*) FROM c) <= {MANY}
  UNION ALL SELECT MIN(d), NULL, 0 FROM c HAVING COUNT(*) > {MANY};
  RETURN NULL;
END $$;
"""


BOTH_DAYS = f"LEAST({PG_DAY.format(c='o.starts_at')}, {PG_DAY.format(c='n.starts_at')})"
UPDATED = (
    f"FROM old_rows o JOIN new_rows n ON n.id = o.id"
    f" WHERE (o.source = 'PAID' OR n.source = 'PAID') AND ({CHANGED})"
)
FUNCTIONS_PG = "".join(
    [
        _mark(
            "finance_rollup_ins",
            f"SELECT user_id AS u, {PG_DAY.format(c='starts_at')} AS d FROM new_rows"
            " WHERE source = 'PAID'",
        ),
        _mark(
            "finance_rollup_upd",
            f"SELECT o.user_id AS u, {BOTH_DAYS} AS d {UPDATED}"
            f" UNION ALL SELECT n.user_id, {BOTH_DAYS} {UPDATED}"
            " AND n.user_id IS DISTINCT FROM o.user_id",
        ),
        _mark(
            "finance_rollup_del",
            f"SELECT user_id AS u, {PG_DAY.format(c='starts_at')} AS d FROM old_rows"
            " WHERE source = 'PAID'",
        ),
        _mark(
            "finance_rollup_activity_del",
            "SELECT user_id AS u, day - DATE '1970-01-01' AS d FROM old_rows",
        ),
        _mark(
            "finance_rollup_activity_ins",
            "SELECT user_id AS u, day - DATE '1970-01-01' AS d FROM new_rows"
            " WHERE day < CURRENT_DATE - 31",
        ),
        f"""
CREATE OR REPLACE FUNCTION finance_rollup_region() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO finance_rollup_dirty (from_day, user_id, done)
  SELECT d, NEW.id, 3 FROM (SELECT LEAST(
    (SELECT MIN({PG_DAY.format(c="starts_at")}) FROM membership_periods
     WHERE user_id = NEW.id AND source = 'PAID'),
    (SELECT MIN(day) - DATE '1970-01-01' FROM user_daily_activity WHERE user_id = NEW.id)
  ) AS d) x WHERE d IS NOT NULL;
  RETURN NULL;
END $$;
""",
    ]
)

SQLITE_DAY = "CAST(julianday({c}) - 2440587.5 AS INTEGER)"
TRIGGERS_SQLITE = [
    "CREATE TRIGGER finance_rollup_ins AFTER INSERT ON membership_periods"
    " WHEN NEW.source = 'PAID' BEGIN INSERT INTO finance_rollup_dirty (from_day, user_id, done)"
    f" VALUES ({SQLITE_DAY.format(c='NEW.starts_at')}, NEW.user_id, 0); END",
    "CREATE TRIGGER finance_rollup_upd AFTER UPDATE ON membership_periods"
    " WHEN (OLD.source = 'PAID' OR NEW.source = 'PAID') AND ("
    + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in READ)
    + ") BEGIN INSERT INTO finance_rollup_dirty (from_day, user_id, done)"
    f" SELECT MIN({SQLITE_DAY.format(c='OLD.starts_at')},"
    f" {SQLITE_DAY.format(c='NEW.starts_at')}), u, 0"
    " FROM (SELECT OLD.user_id AS u UNION SELECT NEW.user_id); END",
    "CREATE TRIGGER finance_rollup_del AFTER DELETE ON membership_periods"
    " WHEN OLD.source = 'PAID' BEGIN INSERT INTO finance_rollup_dirty (from_day, user_id, done)"
    f" VALUES ({SQLITE_DAY.format(c='OLD.starts_at')}, OLD.user_id, 0); END",
    "CREATE TRIGGER finance_rollup_activity_del AFTER DELETE ON user_daily_activity"
    " BEGIN INSERT INTO finance_rollup_dirty (from_day, user_id, done)"
    f" VALUES ({SQLITE_DAY.format(c='OLD.day')}, OLD.user_id, 0); END",
    "CREATE TRIGGER finance_rollup_activity_ins AFTER INSERT ON user_daily_activity"
    " WHEN NEW.day < date('now', '-31 days') BEGIN INSERT INTO finance_rollup_dirty"
    f" (from_day, user_id, done) VALUES ({SQLITE_DAY.format(c='NEW.day')}, NEW.user_id, 0);"
    " END",
    "CREATE TRIGGER finance_rollup_region AFTER UPDATE OF region ON users"
    " WHEN OLD.region IS NOT NEW.region BEGIN INSERT INTO finance_rollup_dirty"
    " (from_day, user_id, done) SELECT d, NEW.id, 3 FROM (SELECT MIN("
    f"  COALESCE((SELECT MIN({SQLITE_DAY.format(c='starts_at')}) FROM membership_periods"
    "   WHERE user_id = NEW.id AND source = 'PAID'), 1000000000),"
    f"  COALESCE((SELECT MIN({SQLITE_DAY.format(c='day')}) FROM user_daily_activity"
    "   WHERE user_id = NEW.id), 1000000000)) AS d) WHERE d < 1000000000; END",
]


def _previous() -> Any:
    return importlib.import_module("migrations.0016_finance_rollup")


async def forward(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    if str(client.capabilities.dialect) == "postgres":
        await client.execute_script(FUNCTIONS_PG)
    else:
        for sql in _previous().DROP_SQLITE:
            await client.execute_script(sql)
        for sql in TRIGGERS_SQLITE:
            await client.execute_script(sql)
    await client.execute_script("DELETE FROM finance_month_rollup")


async def backward(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    old = _previous()
    if str(client.capabilities.dialect) == "postgres":
        await client.execute_script(old.DROP_PG)
        await client.execute_script(old.TRIGGERS_PG)
    else:
        for sql in old.DROP_SQLITE:
            await client.execute_script(sql)
        for sql in old.TRIGGERS_SQLITE:
            await client.execute_script(sql)
    await client.execute_script("DELETE FROM finance_month_rollup")


class Migration(migrations.Migration):
    dependencies = [("ncm", "0019_partitions")]

    initial = False

    operations = [
        ops.CreateModel(
            name="MonthRollupPart",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("month", fields.DateField()),
                ("grouping", fields.CharField(max_length=16)),
                ("bucket", fields.IntField()),
                ("figures", fields.TextField(unique=False)),
            ],
            options={
                "table": "finance_month_rollup_parts",
                "app": "ncm",
                "unique_together": (("grouping", "bucket", "month"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="RollupDirty",
            name="user_id",
            field=fields.BigIntField(null=True),
        ),
        ops.RunPython(forward, backward),
    ]
