"""The report's rollup: each open month's figures per grouping, stored, kept exact.

``figures.compute`` reads the whole ledger (first paid months, MRR history), so a report
that computes twelve months from 12M periods takes minutes. The rollup stores what it gives
per (month, grouping) in ``finance_month_rollup``; a report reads twelve small rows.

It is never silently stale:

- database triggers (migration 0016) append to ``finance_rollup_dirty`` the first day of
  every ledger change the figures read (PAID rows inserted, updated in a column the report
  reads, deleted or truncated; a user's region; deleted activity), in the writer's own
  transaction, whoever the writer is;
- a stored month is **stale** for a grouping when a dirty row whose bit for that grouping
  is not set starts in that month or earlier, or when its MAU was taken before the month's
  activity was complete (``SETTLE_DAYS`` after the month; plays arrive up to 30 days late);
- ``blocks`` computes the missing and stale months of the range before reading (unless
  told not to, and then it says which months it read stale); it then sets its grouping's
  bit on exactly the dirty rows it read and deletes that grouping's other stale months, so
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
from ncm.finance.models import MonthRollup
from ncm.finance.money import day_of, month_of, month_start
from ncm.kit.locks import lock_for_transaction
from ncm.kit.sql import fetch

BITS = {"": 1, "plan": 2, "region": 4}
ALL_DONE = 7
SETTLE_DAYS = 31  # activity may be reported up to 30 days late (ncm.stream.plays.MAX_AGE)
KEEP_MONTHS = 13  # the job keeps this month and the twelve before
ID_CHUNK = 500


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


async def _pending(group: str, conn: Any = None) -> tuple[list[int], int | None]:
    """The dirty rows not yet applied to ``group``: their ids and the first stale month."""
    rows = await fetch(
        "SELECT id, from_day FROM finance_rollup_dirty WHERE (done & $1) = 0",
        [BITS[group]],
        conn,
    )
    if not rows:
        return [], None
    first = min(int(r["from_day"]) for r in rows)
    return [int(r["id"]) for r in rows], month_of(day_of(max(first, 0)))


async def _stored(lo: int, hi: int, group: str, conn: Any = None) -> dict[int, MonthRollup]:
    query = MonthRollup.filter(
        grouping=group, month__gte=month_start(lo), month__lte=month_start(hi)
    )
    if conn is not None:
        query = query.using_db(conn)
    return {month_of(r.month): r for r in await query}


def _needed(
    lo: int, hi: int, stored: dict[int, MonthRollup], stale_from: int | None, now: datetime
) -> list[int]:
    out = []
    for k in range(lo, hi + 1):
        row = stored.get(k)
        if (
            row is None
            or (stale_from is not None and k >= stale_from)
            or row.computed_at < settled_at(k) <= now
        ):
            out.append(k)
    return out


async def refresh(lo: int, hi: int, group: str) -> dict[int, Block]:
    """Compute and store the missing and stale months of ``lo..hi``; apply the pending dirty
    rows to ``group`` (its other stale months are deleted). Returns what it computed."""
    bit = BITS[group]
    async with in_transaction() as conn:
        await lock_for_transaction(conn, "ncm.finance.rollup", bit)
        now = _now()
        ids, stale_from = await _pending(group, conn)
        need = _needed(lo, hi, await _stored(lo, hi, group, conn), stale_from, now)
        computed: dict[int, Block] = {}
        for a, b in runs(need):
            part = await figures.compute(a, b, group)
            computed.update({k: part[k] for k in range(a, b + 1)})
        if stale_from is not None:  # stale months outside the range: computed when needed
            await (
                MonthRollup.filter(grouping=group, month__gte=month_start(stale_from))
                .using_db(conn)
                .delete()
            )
        elif computed:
            await (
                MonthRollup.filter(grouping=group, month__in=[month_start(k) for k in computed])
                .using_db(conn)
                .delete()
            )
        await MonthRollup.bulk_create(
            [
                MonthRollup(
                    month=month_start(k),
                    grouping=group,
                    figures=json.dumps(block.to_json(), separators=(",", ":")),
                    computed_at=now,
                )
                for k, block in computed.items()
            ],
            using_db=conn,
        )
        for i in range(0, len(ids), ID_CHUNK):
            chunk = ids[i : i + ID_CHUNK]
            marks = ", ".join(str(x) for x in chunk)  # integers read from the table
            await fetch(
                f"UPDATE finance_rollup_dirty SET done = done | {bit} WHERE id IN ({marks})",
                [],
                conn,
            )
        if ids:
            await fetch(f"DELETE FROM finance_rollup_dirty WHERE done = {ALL_DONE}", [], conn)
    return computed


async def blocks(lo: int, hi: int, group: str, *, refresh_stale: bool = True) -> Read:
    """Months ``lo..hi`` (all open) from the rollup, exact: missing or stale months are
    computed first. With ``refresh_stale=False`` only missing months are; stale ones are read
    as stored and listed in ``Read.stale``."""
    now = _now()
    _, stale_from = await _pending(group)
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
