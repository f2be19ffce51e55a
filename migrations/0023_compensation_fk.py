"""The ledger's user check, one statement at a time (issue 14, PostgreSQL only).

The foreign key ``membership_periods.user_id -> users`` checked every inserted period on its
own: an index probe of ``users`` and a ``FOR KEY SHARE`` lock on the user's row, which
writes the row's lock to its page (a dirty page and a WAL record per period). It was the
largest cost of a campaign's auto-apply (a million periods in one statement per chunk of
50,000 users; ``docs/compensation.md``). Triggers keep the same rule with one set-based check
per statement:

* ``membership_periods_user_ins``: after an INSERT, one anti-join of the statement's new
  rows (its transition table) with ``users``; a period for a missing user raises
  ``foreign_key_violation`` (SQLSTATE 23503, as the foreign key did, so callers see the same
  ``IntegrityError``). ``membership_periods_user_upd`` does the same per row, only for an
  UPDATE that changes ``user_id`` (``WHEN``): other updates (revocations, refunds) cost
  nothing, as with the foreign key (it skipped unchanged keys).
* ``users_periods_del``: after a DELETE of users, the periods of the deleted users are
  deleted (the foreign key's ``ON DELETE CASCADE``), one statement over the transition
  table. ``users_periods_upd``: an UPDATE of a user's ``id`` that leaves periods behind
  raises (the foreign key's ``ON UPDATE NO ACTION``).

Concurrency, without the per-row lock: the user side takes ``SHARE`` on
``membership_periods`` before it looks for periods, so it waits for transactions that
inserted periods to commit, and inserts wait for it; with READ COMMITTED (what ncm runs)
each statement of a trigger sees what committed before it, so a period and the deletion of
its user cannot both commit. A stricter isolation level reads from an older snapshot, so
there the period side also takes the ``FOR KEY SHARE`` locks (a concurrent deletion then
fails the transaction with a serialization error) and the user side refuses to run.
Deleting users is not something ncm does (operators, by hand); that it briefly blocks
period inserts is the price.

Not covered, unlike the foreign key: ``TRUNCATE users`` no longer requires truncating
``membership_periods`` with it. The model keeps its ``ForeignKeyField`` (the migration state
and SQLite are unchanged; SQLite keeps its foreign key). A later migration that alters the
``user`` field on PostgreSQL must drop these triggers first. Reversible: ``backward`` puts
the foreign key back (validating every row).
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

from ncm.kit.migrate import postgres_only

FK = "membership_periods_user_id_fkey"

MISSING = (
    'RAISE EXCEPTION \'insert or update on table "membership_periods" violates foreign key'
    f" constraint \"{FK}\"' USING ERRCODE = 'foreign_key_violation',"
    " DETAIL = format('Key (user_id)=(%s) is not present in table \"users\".', missing),"
    f" TABLE = 'membership_periods', CONSTRAINT = '{FK}';"
)

# trigger (and its function) -> (event, granularity)
TRIGGERS = {
    "membership_periods_user_ins": (
        "INSERT ON membership_periods",
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT",
    ),
    "membership_periods_user_upd": (
        "UPDATE OF user_id ON membership_periods",
        "FOR EACH ROW WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id)",
    ),
    "users_periods_del": (
        "DELETE ON users",
        "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT",
    ),
    "users_periods_upd": (
        "UPDATE OF id ON users",
        "FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)",
    ),
}

FORWARD = f"""
ALTER TABLE membership_periods DROP CONSTRAINT IF EXISTS {FK};

CREATE FUNCTION membership_periods_user_ins() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  missing bigint;
  lo bigint;
  hi bigint;
BEGIN
  SELECT min(user_id), max(user_id) INTO lo, hi FROM new_rows;
  -- the range lets a chunk's check read only its stretch of users' primary key
  SELECT n.user_id INTO missing FROM new_rows n
  WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = n.user_id AND u.id BETWEEN lo AND hi)
  LIMIT 1;
  IF FOUND THEN
    {MISSING}
  END IF;
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    PERFORM 1 FROM users u WHERE u.id IN (SELECT user_id FROM new_rows) FOR KEY SHARE OF u;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION membership_periods_user_upd() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  missing bigint := NEW.user_id;
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    PERFORM 1 FROM users u WHERE u.id = NEW.user_id FOR KEY SHARE;
  ELSE
    PERFORM 1 FROM users u WHERE u.id = NEW.user_id;
  END IF;
  IF NOT FOUND THEN
    {MISSING}
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION users_periods_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'users can be deleted only in a READ COMMITTED transaction'
      USING ERRCODE = 'feature_not_supported',
      HINT = 'membership_periods are checked by triggers (migrations/0023_compensation_fk.py)';
  END IF;
  LOCK TABLE membership_periods IN SHARE MODE;
  DELETE FROM membership_periods p USING old_rows o WHERE p.user_id = o.id;
  RETURN NULL;
END $$;

CREATE FUNCTION users_periods_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'a user''s id can be changed only in a READ COMMITTED transaction'
      USING ERRCODE = 'feature_not_supported',
      HINT = 'membership_periods are checked by triggers (migrations/0023_compensation_fk.py)';
  END IF;
  LOCK TABLE membership_periods IN SHARE MODE;
  IF EXISTS (SELECT 1 FROM membership_periods p WHERE p.user_id = OLD.id)
     AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = OLD.id) THEN
    RAISE EXCEPTION 'update or delete on table "users" violates foreign key constraint'
      ' "{FK}" on table "membership_periods"'
      USING ERRCODE = 'foreign_key_violation',
      DETAIL = format('Key (id)=(%s) is still referenced from table "membership_periods".',
                      OLD.id),
      TABLE = 'users', CONSTRAINT = '{FK}';
  END IF;
  RETURN NULL;
END $$;
""" + "".join(
    f"CREATE TRIGGER {name} AFTER {event} {each} EXECUTE FUNCTION {name}();\n"
    for name, (event, each) in TRIGGERS.items()
)

BACKWARD = "".join(
    f"DROP TRIGGER IF EXISTS {name} ON {event.rsplit(' ', 1)[1]};"
    f" DROP FUNCTION IF EXISTS {name}();\n"
    for name, (event, _) in TRIGGERS.items()
) + (
    f"ALTER TABLE membership_periods ADD CONSTRAINT {FK}"
    " FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;"
)


class Migration(migrations.Migration):
    dependencies = [("ncm", "0022_billing_checkout")]

    initial = False

    operations = [ops.RunPython(postgres_only(FORWARD), postgres_only(BACKWARD))]
