"""A ledger period belongs to a user that exists, as under a foreign key with ON DELETE
CASCADE. On PostgreSQL statement triggers hold the rule instead of the foreign key
(``migrations/0023_compensation_fk.py``: one set-based check per statement); SQLite keeps
its foreign key. The same behaviour on both."""

from __future__ import annotations

import asyncio
import importlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from ncm.billing.models import MembershipPeriod, PeriodSource
from ncm.kit.sql import sql
from tests.conftest import make_user

T0 = datetime(2026, 1, 1, tzinfo=UTC)
COLUMNS = "user_id, source, reference, tier, starts_at, ends_at, amount, currency, discount,"
COLUMNS += " tax, refunded, note, created_at"
TRIGGERS = (
    "SELECT count(*) AS n FROM pg_trigger WHERE NOT tgisinternal AND tgname IN"
    " ('membership_periods_user_ins', 'membership_periods_user_upd', 'users_periods_del',"
    " 'users_periods_upd')"
)
VALUES = "$1, 'ADMIN_GRANT', $2, 'VIP', $3, $4, 0, '', 0, 0, 0, '', $5"


async def _period(user_id: int, ref: str = "admin:1", conn: Any = None) -> None:
    await (conn or connections.get("default")).execute_query(
        sql(f"INSERT INTO membership_periods ({COLUMNS}) VALUES ({VALUES})"),
        [user_id, ref, T0, T0 + timedelta(days=7), T0],
    )


async def _count(user_id: int) -> int:
    return await MembershipPeriod.filter(user_id=user_id).count()


async def test_a_period_for_a_missing_user_is_refused() -> None:
    user = await make_user()
    with pytest.raises(IntegrityError):
        await _period(user.id + 1000)
    with pytest.raises(IntegrityError):
        await MembershipPeriod.create(
            user_id=user.id + 1000,
            source=PeriodSource.ADMIN_GRANT,
            reference="admin:2",
            starts_at=T0,
            ends_at=T0 + timedelta(days=7),
        )
    await _period(user.id)
    assert await MembershipPeriod.all().count() == 1


async def test_one_missing_user_refuses_the_whole_set_based_insert() -> None:
    users = [await make_user(f"user{i}") for i in range(3)]
    ids = [u.id for u in users] + [max(u.id for u in users) + 1000]
    select = " UNION ALL ".join(f"SELECT {i} AS id" for i in ids)
    insert = (
        f"INSERT INTO membership_periods ({COLUMNS}) SELECT x.id, 'COMPENSATION', 'comp:1',"
        " 'VIP', $1, $2, 0, '', 0, 0, 0, '', $3 FROM (" + select + ") AS x"
    )
    with pytest.raises(IntegrityError):
        await connections.get("default").execute_query(
            sql(insert), [T0, T0 + timedelta(days=7), T0]
        )
    assert await MembershipPeriod.all().count() == 0
    await connections.get("default").execute_query(
        sql(insert.replace(f" UNION ALL SELECT {ids[-1]} AS id", "")),
        [T0, T0 + timedelta(days=7), T0],
    )
    assert await MembershipPeriod.all().count() == 3


async def test_deleting_a_user_deletes_their_periods_only() -> None:
    gone, kept = await make_user("gone"), await make_user("kept")
    for user in (gone, kept):
        await _period(user.id, "admin:1")
        await _period(user.id, "admin:2")
    await connections.get("default").execute_query(
        sql("DELETE FROM users WHERE id = $1"), [gone.id]
    )
    assert (await _count(gone.id), await _count(kept.id)) == (0, 2)


@pytest.mark.postgres_only
async def test_postgres_has_triggers_not_the_foreign_key() -> None:
    rows = await connections.get("default").execute_query_dict(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'membership_periods'::regclass"
        " AND contype = 'f'"
    )
    assert rows == []
    rows = await connections.get("default").execute_query_dict(TRIGGERS)
    assert rows == [{"n": 4}]


@pytest.mark.postgres_only
async def test_moving_a_period_or_a_user_id_keeps_the_rule() -> None:
    user, other = await make_user("one"), await make_user("two")
    await _period(user.id)
    db = connections.get("default")
    with pytest.raises(IntegrityError):
        await db.execute_query(
            "UPDATE membership_periods SET user_id = $1 WHERE user_id = $2",
            [other.id + 1000, user.id],
        )
    with pytest.raises(IntegrityError):  # the foreign key's ON UPDATE NO ACTION
        await db.execute_query("UPDATE users SET id = $1 WHERE id = $2", [user.id + 1000, user.id])
    await db.execute_query(
        "UPDATE membership_periods SET user_id = $1 WHERE user_id = $2", [other.id, user.id]
    )
    await db.execute_query("UPDATE users SET id = $1 WHERE id = $2", [user.id + 1000, user.id])
    # an update that leaves user_id alone (a revocation) is not checked at all
    await db.execute_query("UPDATE membership_periods SET revoked_at = $1", [T0])
    assert await _count(other.id) == 1


@pytest.mark.postgres_only
async def test_a_period_committed_while_its_user_is_deleted_is_deleted_too() -> None:
    """No per-row lock on the user: the deletion waits for the open period insert instead
    (``SHARE`` on the ledger), then sees it and deletes it."""
    user = await make_user()
    inserted = asyncio.Event()

    async def delete_user() -> None:
        await inserted.wait()
        await connections.get("default").execute_query("DELETE FROM users WHERE id = $1", [user.id])

    deleting = asyncio.create_task(delete_user())  # its own pooled connection
    async with in_transaction() as conn:
        await _period(user.id, conn=conn)  # the check passes: the user is still there
        inserted.set()
        await asyncio.sleep(0.3)
        assert not deleting.done()  # it waits for this transaction
    await deleting
    assert await _count(user.id) == 0


@pytest.mark.postgres_only
async def test_a_period_for_a_user_being_deleted_is_refused() -> None:
    user = await make_user()
    deleted = asyncio.Event()
    finish = asyncio.Event()

    async def delete_user() -> None:
        async with in_transaction() as conn:
            await conn.execute_query("DELETE FROM users WHERE id = $1", [user.id])
            deleted.set()
            await finish.wait()

    deleting = asyncio.create_task(delete_user())
    await deleted.wait()
    inserting = asyncio.create_task(_period(user.id))  # waits for the deletion to commit
    await asyncio.sleep(0.3)
    assert not inserting.done()
    finish.set()
    await deleting
    with pytest.raises(IntegrityError):
        await inserting
    assert await _count(user.id) == 0


@pytest.mark.postgres_only
async def test_deleting_users_needs_read_committed() -> None:
    user = await make_user()
    await _period(user.id)
    with pytest.raises(Exception, match="only in a READ COMMITTED transaction"):
        async with in_transaction() as conn:
            await conn.execute_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            await conn.execute_query("DELETE FROM users WHERE id = $1", [user.id])
    assert await _count(user.id) == 1


@pytest.mark.postgres_only
async def test_the_migration_reverts_on_its_own() -> None:
    """0023's backward step puts the foreign key back and its forward step takes it away
    again (DDL is transactional on PostgreSQL: both run in one rolled-back transaction)."""
    fk_0023 = importlib.import_module("migrations.0023_compensation_fk")
    user = await make_user()
    await _period(user.id)
    foreign_keys = (
        "SELECT pg_get_constraintdef(oid) AS d FROM pg_constraint"
        " WHERE conrelid = 'membership_periods'::regclass AND contype = 'f'"
    )

    class Undo(Exception):
        pass

    with pytest.raises(Undo):
        async with in_transaction() as conn:
            await conn.execute_script(fk_0023.BACKWARD)
            rows = await conn.execute_query_dict(foreign_keys)
            assert [r["d"] for r in rows] == [
                "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE"
            ]
            assert await conn.execute_query_dict(TRIGGERS) == [{"n": 0}]
            await conn.execute_script(fk_0023.FORWARD)
            assert await conn.execute_query_dict(foreign_keys) == []
            assert await conn.execute_query_dict(TRIGGERS) == [{"n": 4}]
            raise Undo
    assert await connections.get("default").execute_query_dict(foreign_keys) == []
