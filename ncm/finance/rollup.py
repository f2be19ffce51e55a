"""The report's rollup: each open month's figures per grouping, stored, kept exact.

``figures.compute`` reads the whole ledger (first paid months, MRR history), so a report
that computes twelve months from 12M periods takes minutes. The rollup stores what it gives
per (month, grouping) in ``finance_month_rollup``; a report reads twelve small rows.

Each stored month is also kept in parts, one per bucket of ``BUCKET_USERS`` user ids
(``finance_month_rollup_parts``, migration 0020): every figure is a sum over users, so the
month is the exact sum of its parts, and a change to a few users' ledger computes their
buckets again and folds the difference in, instead of a pass over the whole ledger.

It is never silently stale:

- database triggers (migrations 0016, 0020) append to ``finance_rollup_dirty`` the user and
  the first day of every ledger change the figures read (PAID rows inserted, updated in a
  column the report reads, deleted; a user's region; deleted activity), in the writer's own
  transaction, whoever the writer is; a statement over more than 1,000 users, or a
  truncate, writes one row for every user (no user);
- a stored month is **stale** for a grouping when a dirty row whose bit for that grouping
  is not set starts in that month or earlier, or when its MAU was taken before the month's
  activity was complete (``SETTLE_DAYS`` after the month; plays arrive up to 30 days late);
- ``blocks`` brings the range up to date before reading (unless told not to, and then it
  says which months it read stale): a dirty row's bucket is folded into every stored month
  from its day on; missing, settling and every-user-stale months are computed whole,
  bucket by bucket; it then sets its grouping's bit on exactly the dirty rows it read, so
  a write committed meanwhile stays pending; rows with every bit set are deleted;
- the ``refresh_rollup`` job does the same for the last ``KEEP_MONTHS`` months of every
  grouping every ten minutes, so a report usually finds nothing to compute;
- the MAU of a month still within ``SETTLE_DAYS`` of its end is counted live at each read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from ncm.finance import figures
from ncm.finance.figures import Block
from ncm.finance.models import MonthRollup, MonthRollupPart
from ncm.finance.money import day_of, month_of, month_start
from ncm.kit.db import is_postgres
from ncm.kit.locks import lock_for_transaction
from ncm.kit.sql import fetch

BITS = {"": 1, "plan": 2, "region": 4}
ALL_DONE = 7
SETTLE_DAYS = 31  # activity may be reported up to 30 days late (ncm.stream.plays.MAX_AGE)
KEEP_MONTHS = 13  # the job keeps this month and the twelve before
ID_CHUNK = 500
BUCKET_USERS = 4096  # users per stored part of a month (ids [b * 4096, (b + 1) * 4096))


def _now() -> datetime:
    return datetime.now(UTC)


def settled_at(k: int) -> datetime:
    """When month ``k``'s activity (MAU) can no longer change."""
    end = month_start(k + 1) + timedelta(days=SETTLE_DAYS)
    return datetime.combine(end, datetime.min.time(), UTC)


def runs(months: list[int]) -> list[tuple[int, int]]:
    """Consecutive months as (first, last) runs."""
    out: list[tuple[int, int]] = []
    for k in sorted(months):
        if out and out[-1][1] == k - 1:
            out[-1] = (out[-1][0], k)
        else:
            out.append((k, k))
    return out


@dataclass
class Read:
    blocks: dict[int, Block]
    computed_at: dict[int, datetime]
    refreshed: list[int] = field(default_factory=list)  # computed by this read
    stale: list[int] = field(default_factory=list)  # read stale (refresh=False)


def bucket_users(bucket: int) -> tuple[int, int]:
    """The user ids ``[a, b)`` of a bucket."""
    return bucket * BUCKET_USERS, (bucket + 1) * BUCKET_USERS


@dataclass
class Pending:
    """The dirty rows not yet applied to a grouping."""

    ids: list[int] = field(default_factory=list)
    stale_from: int | None = None  # the first month stale for anyone (what a read names)
    all_from: int | None = None  # the first month stale for every user
    buckets: dict[int, int] = field(default_factory=dict)  # bucket: its first stale month


async def _pending(group: str, conn: Any = None) -> Pending:
    rows = await fetch(
        "SELECT id, from_day, user_id FROM finance_rollup_dirty WHERE (done & $1) = 0",
        [BITS[group]],
        conn,
    )
    out = Pending()
    for r in rows:
        out.ids.append(int(r["id"]))
        k = month_of(day_of(max(int(r["from_day"]), 0)))
        out.stale_from = k if out.stale_from is None else min(out.stale_from, k)
        if r["user_id"] is None:
            out.all_from = k if out.all_from is None else min(out.all_from, k)
        else:
            b = int(r["user_id"]) // BUCKET_USERS
            out.buckets[b] = min(out.buckets.get(b, k), k)
    return out


async def _stored(lo: int, hi: int, group: str, conn: Any = None) -> dict[int, MonthRollup]:
    query = MonthRollup.filter(
        grouping=group, month__gte=month_start(lo), month__lte=month_start(hi)
    )
    if conn is not None:
        query = query.using_db(conn)
    return {month_of(r.month): r for r in await query}


def _settling(k: int, row: MonthRollup, now: datetime) -> bool:
    """The month's MAU was taken before its activity was complete, and now it is."""
    return row.computed_at < settled_at(k) <= now


def _needed(
    lo: int, hi: int, stored: dict[int, MonthRollup], stale_from: int | None, now: datetime
) -> list[int]:
    out = []
    for k in range(lo, hi + 1):
        row = stored.get(k)
        if row is None or (stale_from is not None and k >= stale_from) or _settling(k, row, now):
            out.append(k)
    return out


def _dumps(block: Block) -> str:
    return json.dumps(block.to_json(), separators=(",", ":"))


def _empty(block: Block) -> bool:
    return not (
        block.rows
        or block.daily
        or block.group_mau
        or any(block.group_users.values())
        or any(getattr(block, name) for name in figures.PER_USER)
    )


async def _all_buckets(conn: Any) -> list[int]:
    rows = await fetch(f"SELECT DISTINCT id / {BUCKET_USERS} AS b FROM users", [], conn)
    return sorted(int(r["b"]) for r in rows)


async def _write_parts(
    group: str, parts: dict[tuple[int, int], Block], conn: Any, *, replace_months: list[int]
) -> None:
    """Store ``parts`` ((month, bucket): block); the months ``replace_months`` lose every
    other part they had, the other parts' months keep theirs."""
    if replace_months:
        await (
            MonthRollupPart.filter(
                grouping=group, month__in=[month_start(k) for k in replace_months]
            )
            .using_db(conn)
            .delete()
        )
    by_bucket: dict[int, list[int]] = {}
    for k, b in parts:
        if k not in replace_months:
            by_bucket.setdefault(b, []).append(k)
    for b, months in by_bucket.items():
        await (
            MonthRollupPart.filter(
                grouping=group, bucket=b, month__in=[month_start(k) for k in months]
            )
            .using_db(conn)
            .delete()
        )
    await MonthRollupPart.bulk_create(
        [
            MonthRollupPart(month=month_start(k), grouping=group, bucket=b, figures=_dumps(block))
            for (k, b), block in parts.items()
            if not _empty(block)
        ],
        batch_size=1000,
        using_db=conn,
    )


async def _compute_parts(
    lo: int, hi: int, group: str, buckets: list[int]
) -> dict[tuple[int, int], Block]:
    """Months ``lo..hi`` of each bucket, as (month, bucket): block."""
    out: dict[tuple[int, int], Block] = {}
    for b in buckets:
        part = await figures.compute(lo, hi, group, bucket_users(b))
        for k, block in part.items():
            block.prune(group)
            out[(k, b)] = block
    return out


async def refresh(lo: int, hi: int, group: str) -> dict[int, Block]:
    """Bring the stored months of ``group`` up to date with the pending dirty rows, and
    compute the missing months of ``lo..hi``. Returns the months it computed or changed.

    - months of ``lo..hi`` that are missing, whose MAU is settling, or stale for every
      user: computed whole, bucket by bucket (their parts replaced, the month their sum);
    - stored months made stale by a few users' changes (the triggers name the users):
      those users' buckets are computed again (their whole history, from the ledger
      index's first column) and the difference folded into the month, exact;
    - stored months outside ``lo..hi`` stale for every user are deleted (computed when
      read)."""
    bit = BITS[group]
    async with in_transaction() as conn:
        await lock_for_transaction(conn, "ncm.finance.rollup", bit)
        now = _now()
        pending = await _pending(group, conn)
        stored = {
            month_of(r.month): r for r in await MonthRollup.filter(grouping=group).using_db(conn)
        }
        if pending.all_from is not None:  # stale for everyone, outside the range: dropped
            gone = [k for k in stored if k >= pending.all_from and not lo <= k <= hi]
            if gone:
                months = [month_start(k) for k in gone]
                await MonthRollup.filter(grouping=group, month__in=months).using_db(conn).delete()
                await (
                    MonthRollupPart.filter(grouping=group, month__in=months).using_db(conn).delete()
                )
                for k in gone:
                    del stored[k]
        whole = [
            k
            for k in range(lo, hi + 1)
            if k not in stored
            or (pending.all_from is not None and k >= pending.all_from)
            or _settling(k, stored[k], now)
        ]
        computed: dict[int, Block] = {}
        if whole:
            buckets = sorted(set(await _all_buckets(conn)) | set(pending.buckets))
            for a, b in runs(whole):
                parts = await _compute_parts(a, b, group, buckets)
                for k in range(a, b + 1):
                    total = Block(k)
                    for bucket in buckets:
                        total.add(parts[(k, bucket)])
                    total.prune(group)
                    computed[k] = total
                await _write_parts(group, parts, conn, replace_months=list(range(a, b + 1)))
            await (
                MonthRollup.filter(grouping=group, month__in=[month_start(k) for k in whole])
                .using_db(conn)
                .delete()
            )
            await MonthRollup.bulk_create(
                [
                    MonthRollup(
                        month=month_start(k),
                        grouping=group,
                        figures=_dumps(computed[k]),
                        computed_at=now,
                    )
                    for k in whole
                ],
                using_db=conn,
            )
        folded = await _fold(group, pending, stored, set(whole), conn, now)
        computed.update(folded)
        await _mark(pending.ids, bit, conn)
    return computed


async def _fold(
    group: str,
    pending: Pending,
    stored: dict[int, MonthRollup],
    whole: set[int],
    conn: Any,
    now: datetime,
) -> dict[int, Block]:
    """Compute the dirty buckets' stored months again and fold the difference into them."""
    todo = {
        b: [k for k in sorted(stored) if k >= first and k not in whole]
        for b, first in pending.buckets.items()
    }
    todo = {b: months for b, months in todo.items() if months}
    if not todo:
        return {}
    months = sorted({k for ks in todo.values() for k in ks})
    totals = {k: Block.from_json(json.loads(stored[k].figures)) for k in months}
    old: dict[tuple[int, int], Block] = {}
    for b, ks in todo.items():
        for r in await MonthRollupPart.filter(
            grouping=group, bucket=b, month__in=[month_start(k) for k in ks]
        ).using_db(conn):
            old[(month_of(r.month), b)] = Block.from_json(json.loads(r.figures))
    new: dict[tuple[int, int], Block] = {}
    for b, ks in todo.items():
        part = await _compute_parts(ks[0], ks[-1], group, [b])
        for k in ks:
            block = part[(k, b)]
            before = old.get((k, b))
            if before is not None:
                totals[k].add(before, -1)
            totals[k].add(block)
            new[(k, b)] = block
    await _write_parts(group, new, conn, replace_months=[])
    for k in months:
        totals[k].prune(group)
        row = stored[k]
        row.figures = _dumps(totals[k])
        if not _settling(k, row, now):  # else its MAU is still to be counted whole
            row.computed_at = now
        await row.save(using_db=conn, update_fields=["figures", "computed_at"])
    return totals


async def _mark(ids: list[int], bit: int, conn: Any) -> None:
    """Set ``bit`` on exactly the dirty rows that were read (a write committed meanwhile
    stays pending); delete the rows every grouping has applied."""
    if not ids:
        return
    if is_postgres():
        await fetch(
            "UPDATE finance_rollup_dirty SET done = done | $1 WHERE id = ANY($2::bigint[])",
            [bit, ids],
            conn,
        )
    else:
        for i in range(0, len(ids), ID_CHUNK):
            marks = ", ".join(str(x) for x in ids[i : i + ID_CHUNK])  # integers read
            await fetch(
                f"UPDATE finance_rollup_dirty SET done = done | {bit} WHERE id IN ({marks})",
                [],
                conn,
            )
    await fetch(f"DELETE FROM finance_rollup_dirty WHERE done = {ALL_DONE}", [], conn)


async def blocks(lo: int, hi: int, group: str, *, refresh_stale: bool = True) -> Read:
    """Months ``lo..hi`` (all open) from the rollup, exact: missing or stale months are
    computed first. With ``refresh_stale=False`` only missing months are; stale ones are read
    as stored and listed in ``Read.stale``."""
    now = _now()
    stale_from = (await _pending(group)).stale_from
    stored = await _stored(lo, hi, group)
    need = _needed(lo, hi, stored, stale_from, now)
    refreshed: list[int] = []
    stale: list[int] = []
    if need and refresh_stale:
        await refresh(lo, hi, group)
        refreshed = need
        stored = await _stored(lo, hi, group)
    elif need:
        missing = [k for k in need if k not in stored]
        stale = [k for k in need if k in stored]
        for a, b in runs(missing):
            part = await figures.compute(a, b, group)
            for k in range(a, b + 1):
                stored[k] = MonthRollup(
                    month=month_start(k),
                    grouping=group,
                    figures=json.dumps(part[k].to_json()),
                    computed_at=now,
                )
        refreshed = missing
    out = Read(
        blocks={k: Block.from_json(json.loads(stored[k].figures)) for k in range(lo, hi + 1)},
        computed_at={k: stored[k].computed_at for k in range(lo, hi + 1)},
        refreshed=refreshed,
        stale=stale,
    )
    live = [k for k in range(lo, hi + 1) if now < settled_at(k)]
    for a, b in runs(live):  # activity still arriving: MAU counted now
        for k in range(a, b + 1):
            out.blocks[k].mau = 0
            out.blocks[k].group_mau = {}
        await figures.count_mau(a, b, out.blocks, group)
    return out


async def refresh_recent(today: datetime | None = None) -> dict[str, int]:
    """The job's work: this month and the ``KEEP_MONTHS - 1`` before, every grouping, open
    months only. Returns the months computed per grouping."""
    from ncm.finance.closing import closed_months  # lazy: closing imports this module

    current = month_of((today or _now()).date())
    closed = await closed_months()
    done: dict[str, int] = {}
    for group in figures.GROUPS:
        count = 0
        for a, b in runs(
            [k for k in range(current - KEEP_MONTHS + 1, current + 1) if k not in closed]
        ):
            count += len(await refresh(a, b, group))
        done[group] = count
    return done
