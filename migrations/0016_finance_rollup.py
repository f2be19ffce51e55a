"""Finance rollups (docs/metrics.md, "The report's rollup").

* ``membership_periods.plan_ref``: the plan a paid period paid for, filled here from the
  period's subscription (the best that is known for earlier rows); billing writes it from the
  invoice from now on.
* ``finance_month_rollup``: one open month's report figures per grouping.
* ``finance_rollup_dirty``: written by triggers on ``membership_periods`` (PAID rows: insert,
  update of a column the report reads, delete, truncate), ``users.region``, deletes of
  ``user_daily_activity`` and inserts of activity older than 31 days (a settled month's
  MAU): the stored months from that day's month on are stale.
* ``finance_play_rollup_watermark``: the listening rollup's ``through_day``.
"""

from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

ALL = -1_000_000  # a day number before any data: "every month"

BACKFILL_PG = """
UPDATE membership_periods mp SET plan_ref = s.stripe_plan_id FROM billing_subscriptions s
WHERE mp.source = 'PAID' AND mp.plan_ref IS NULL AND s.stripe_id = mp.subscription_ref
  AND s.stripe_plan_id <> ''
"""
BACKFILL_SQLITE = """
UPDATE membership_periods SET plan_ref = (SELECT s.stripe_plan_id FROM billing_subscriptions s
  WHERE s.stripe_id = membership_periods.subscription_ref AND s.stripe_plan_id <> '')
WHERE source = 'PAID' AND plan_ref IS NULL AND subscription_ref IS NOT NULL
"""

PG_DAY = "((({c}) AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"
# the columns the report reads: a change of any other column (a note) leaves it alone
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


def _changed(o: str, n: str) -> str:
    return " OR ".join(f"{o}.{c} IS DISTINCT FROM {n}.{c}" for c in READ)


TRIGGERS_PG = f"""
CREATE FUNCTION finance_rollup_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO finance_rollup_dirty (from_day, done)
  SELECT MIN({PG_DAY.format(c="starts_at")}), 0 FROM new_rows WHERE source = 'PAID'
  HAVING COUNT(*) > 0;
  RETURN NULL;
END $$;
CREATE FUNCTION finance_rollup_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO finance_rollup_dirty (from_day, done)
  SELECT MIN(LEAST({PG_DAY.format(c="o.starts_at")}, {PG_DAY.format(c="n.starts_at")})), 0
  FROM old_rows o JOIN new_rows n ON n.id = o.id
  WHERE (o.source = 'PAID' OR n.source = 'PAID') AND ({_changed("o", "n")})
  HAVING COUNT(*) > 0;
  RETURN NULL;
END $$;
CREATE FUNCTION finance_rollup_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO finance_rollup_dirty (from_day, done)
  SELECT MIN({PG_DAY.format(c="starts_at")}), 0 FROM old_rows WHERE source = 'PAID'
  HAVING COUNT(*) > 0;
  RETURN NULL;
END $$;
CREATE FUNCTION finance_rollup_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO finance_rollup_dirty (from_day, done) VALUES ({ALL}, 0);
  RETURN NULL;
END $$;
CREATE FUNCTION finance_rollup_activity_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO finance_rollup_dirty (from_day, done)
  SELECT MIN(day - DATE '1970-01-01'), 0 FROM old_rows HAVING COUNT(*) > 0;
  RETURN NULL;
END $$;
CREATE FUNCTION finance_rollup_activity_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO finance_rollup_dirty (from_day, done)
  SELECT MIN(day - DATE '1970-01-01'), 0 FROM new_rows WHERE day < CURRENT_DATE - 31
  HAVING COUNT(*) > 0;
  RETURN NULL;
END $$;
CREATE FUNCTION finance_rollup_region() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO finance_rollup_dirty (from_day, done)
  SELECT d, 3 FROM (SELECT LEAST(
    (SELECT MIN({PG_DAY.format(c="starts_at")}) FROM membership_periods
     WHERE user_id = NEW.id AND source = 'PAID'),
    (SELECT MIN(day) - DATE '1970-01-01' FROM user_daily_activity WHERE user_id = NEW.id)
  ) AS d) x WHERE d IS NOT NULL;
  RETURN NULL;
END $$;
CREATE TRIGGER finance_rollup_ins AFTER INSERT ON membership_periods
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION finance_rollup_ins();
CREATE TRIGGER finance_rollup_upd AFTER UPDATE ON membership_periods
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION finance_rollup_upd();
CREATE TRIGGER finance_rollup_del AFTER DELETE ON membership_periods
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION finance_rollup_del();
CREATE TRIGGER finance_rollup_trunc AFTER TRUNCATE ON membership_periods
  FOR EACH STATEMENT EXECUTE FUNCTION finance_rollup_all();
CREATE TRIGGER finance_rollup_activity_del AFTER DELETE ON user_daily_activity
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION finance_rollup_activity_del();
CREATE TRIGGER finance_rollup_activity_ins AFTER INSERT ON user_daily_activity
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION finance_rollup_activity_ins();
CREATE TRIGGER finance_rollup_activity_trunc AFTER TRUNCATE ON user_daily_activity
  FOR EACH STATEMENT EXECUTE FUNCTION finance_rollup_all();
CREATE TRIGGER finance_rollup_region AFTER UPDATE OF region ON users FOR EACH ROW
  WHEN (OLD.region IS DISTINCT FROM NEW.region) EXECUTE FUNCTION finance_rollup_region();
"""
DROP_PG = """
DROP TRIGGER IF EXISTS finance_rollup_ins ON membership_periods;
DROP TRIGGER IF EXISTS finance_rollup_upd ON membership_periods;
DROP TRIGGER IF EXISTS finance_rollup_del ON membership_periods;
DROP TRIGGER IF EXISTS finance_rollup_trunc ON membership_periods;
DROP TRIGGER IF EXISTS finance_rollup_activity_del ON user_daily_activity;
DROP TRIGGER IF EXISTS finance_rollup_activity_trunc ON user_daily_activity;
DROP TRIGGER IF EXISTS finance_rollup_activity_ins ON user_daily_activity;
DROP TRIGGER IF EXISTS finance_rollup_region ON users;
DROP FUNCTION IF EXISTS finance_rollup_ins, finance_rollup_upd, finance_rollup_del,
  finance_rollup_all, finance_rollup_activity_del, finance_rollup_activity_ins,
  finance_rollup_region;
"""

SQLITE_DAY = "CAST(julianday({c}) - 2440587.5 AS INTEGER)"
TRIGGERS_SQLITE = [
    "CREATE TRIGGER finance_rollup_ins AFTER INSERT ON membership_periods"
    " WHEN NEW.source = 'PAID' BEGIN INSERT INTO finance_rollup_dirty (from_day, done)"
    f" VALUES ({SQLITE_DAY.format(c='NEW.starts_at')}, 0); END",
    "CREATE TRIGGER finance_rollup_upd AFTER UPDATE ON membership_periods"
    " WHEN (OLD.source = 'PAID' OR NEW.source = 'PAID') AND ("
    + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in READ)
    + ") BEGIN INSERT INTO finance_rollup_dirty (from_day, done)"
    f" VALUES (MIN({SQLITE_DAY.format(c='OLD.starts_at')},"
    f" {SQLITE_DAY.format(c='NEW.starts_at')}), 0); END",
    "CREATE TRIGGER finance_rollup_del AFTER DELETE ON membership_periods"
    " WHEN OLD.source = 'PAID' BEGIN INSERT INTO finance_rollup_dirty (from_day, done)"
    f" VALUES ({SQLITE_DAY.format(c='OLD.starts_at')}, 0); END",
    "CREATE TRIGGER finance_rollup_activity_del AFTER DELETE ON user_daily_activity"
    " BEGIN INSERT INTO finance_rollup_dirty (from_day, done)"
    f" VALUES ({SQLITE_DAY.format(c='OLD.day')}, 0); END",
    # activity for a day whose month may already be settled (ncm.finance.rollup.SETTLE_DAYS)
    "CREATE TRIGGER finance_rollup_activity_ins AFTER INSERT ON user_daily_activity"
    " WHEN NEW.day < date('now', '-31 days') BEGIN INSERT INTO finance_rollup_dirty"
    f" (from_day, done) VALUES ({SQLITE_DAY.format(c='NEW.day')}, 0); END",
    "CREATE TRIGGER finance_rollup_region AFTER UPDATE OF region ON users"
    " WHEN OLD.region IS NOT NEW.region BEGIN INSERT INTO finance_rollup_dirty (from_day, done)"
    " SELECT d, 3 FROM (SELECT MIN("
    f"  COALESCE((SELECT MIN({SQLITE_DAY.format(c='starts_at')}) FROM membership_periods"
    "   WHERE user_id = NEW.id AND source = 'PAID'), 1000000000),"
    f"  COALESCE((SELECT MIN({SQLITE_DAY.format(c='day')}) FROM user_daily_activity"
    "   WHERE user_id = NEW.id), 1000000000)) AS d) WHERE d < 1000000000; END",
]
DROP_SQLITE = [
    f"DROP TRIGGER IF EXISTS {name}"
    for name in (
        "finance_rollup_ins",
        "finance_rollup_upd",
        "finance_rollup_del",
        "finance_rollup_activity_del",
        "finance_rollup_activity_ins",
        "finance_rollup_region",
    )
]


def _by_dialect(pg: list[str], sqlite: list[str]) -> Any:
    async def run(apps: Any, schema_editor: Any) -> None:
        client = schema_editor.client
        if str(client.capabilities.dialect) == "postgres":
            for sql in pg:
                await client.execute_script(sql)
        else:
            for sql in sqlite:
                await client.execute_script(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("ncm", "0015_search")]

    initial = False

    operations = [
        ops.CreateModel(
            name="MonthRollup",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("month", fields.DateField()),
                ("grouping", fields.CharField(max_length=16)),
                ("figures", fields.TextField(unique=False)),
                ("computed_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "finance_month_rollup",
                "app": "ncm",
                "unique_together": (("month", "grouping"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PlayRollupMonth",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("month", fields.DateField()),
                ("track_id", fields.BigIntField()),
                ("plays", fields.BigIntField()),
            ],
            options={
                "table": "finance_play_rollup_months",
                "app": "ncm",
                "unique_together": (("month", "track_id"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PlayRollupWatermark",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("through_day", fields.DateField()),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "finance_play_rollup_watermark", "app": "ncm", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RollupDirty",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("from_day", fields.IntField()),
                ("done", fields.SmallIntField(default=0)),
            ],
            options={"table": "finance_rollup_dirty", "app": "ncm", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.AddField(
            model_name="MembershipPeriod",
            name="plan_ref",
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.RunPython(_by_dialect([BACKFILL_PG], [BACKFILL_SQLITE]), _by_dialect([], [])),
        ops.RunPython(
            _by_dialect([TRIGGERS_PG], TRIGGERS_SQLITE), _by_dialect([DROP_PG], DROP_SQLITE)
        ),
    ]
