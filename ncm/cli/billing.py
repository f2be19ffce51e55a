"""``ncm billing``: plans, members, grants, webhook events and reconciliation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer

from ncm.cli.comments import operator
from ncm.cli.common import JsonOption, _plain, console, emit, emit_one, err_console, run
from ncm.cli.progress import working

app = typer.Typer(help="Billing: plans, members, grants, events.", no_args_is_help=True)
plans_app = typer.Typer(
    help="Membership plans (in the database, synced to Stripe).", no_args_is_help=True
)
member_app = typer.Typer(help="A user's membership.", no_args_is_help=True)
events_app = typer.Typer(help="Stripe webhook events as received.", no_args_is_help=True)
app.add_typer(plans_app, name="plans")
app.add_typer(member_app, name="member")
app.add_typer(events_app, name="events")


def _plan_record(p: Any) -> dict[str, Any]:
    return {
        "id": p.id,
        "code": p.code,
        "name": p.name,
        "tier": p.tier,
        "interval": p.interval,
        "amount": p.amount,
        "currency": p.currency,
        "active": p.active,
        "stripe_plan_id": p.stripe_plan_id,
        "synced_at": p.synced_at,
    }


@plans_app.command("list")
def plans_list(as_json: bool = JsonOption) -> None:
    """Every plan in the database and its Stripe plan id (and its older prices)."""
    from ncm.billing import plans

    async def work() -> list[dict[str, Any]]:
        from ncm.billing.models import PlanPrice

        prices = await PlanPrice.all().order_by("id").values_list("plan_id", "stripe_plan_id")
        rows = []
        for p in await plans.list_plans():
            record = _plan_record(p)
            record["older_prices"] = ",".join(
                sid for pid, sid in prices if pid == p.id and sid != p.stripe_plan_id
            )
            rows.append(record)
        return rows

    emit(run(work), as_json, title="plans")


@plans_app.command("set")
def plans_set(
    code: str = typer.Argument(..., help="e.g. vip_monthly"),
    name: str = typer.Option(..., "--name"),
    interval: str = typer.Option(..., "--interval", help="MONTH or YEAR."),
    amount: int = typer.Option(..., "--amount", help="Minor units (1500 = 15.00 CNY)."),
    currency: str = typer.Option("CNY", "--currency"),
    as_json: bool = JsonOption,
) -> None:
    """Create or edit a plan in the database (then run `plans sync`)."""
    from ncm.billing import plans
    from ncm.billing.models import Interval
    from ncm.errors import InvalidInput

    async def work() -> Any:
        try:
            wanted = Interval(interval.upper())
        except ValueError:
            raise InvalidInput("interval is MONTH or YEAR", field="interval") from None
        return await plans.set_plan(
            code, name=name, interval=wanted, amount=amount, currency=currency
        )

    emit_one(_plan_record(run(work)), as_json, title="plan")


@plans_app.command("sync")
def plans_sync(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would change."),
    as_json: bool = JsonOption,
) -> None:
    """Create or update the Stripe product and plan of every plan (idempotent). The default
    VIP monthly and yearly plans are added to an empty database first. Needs
    NCM_STRIPE_API_KEY; without it, --dry-run compares with the database only."""
    from ncm.billing import plans
    from ncm.billing.errors import NOT_CONFIGURED
    from ncm.billing.stripe import payments_configured

    if dry_run and not payments_configured():
        err_console.print(
            f"note: {NOT_CONFIGURED} This dry run compares with the database only.",
            highlight=False,
            soft_wrap=True,
        )

    async def work() -> list[dict[str, Any]]:
        if not await plans.list_plans():
            await plans.ensure_default_plans()
        changes = await plans.sync(dry_run=dry_run)
        return [
            {"plan": c.plan, "action": c.action, "stripe_id": c.stripe_plan_id} for c in changes
        ]

    emit(run(work), as_json, title="plans sync" + (" (dry run)" if dry_run else ""))


@member_app.command("show")
def member_show(
    user: str = typer.Argument(..., help="Id, email or handle."), as_json: bool = JsonOption
) -> None:
    """Whether the user is a member, until when, and every period of the ledger."""
    from ncm.accounts import service as accounts
    from ncm.billing import ledger

    async def work() -> dict[str, Any]:
        found = await accounts.find_user(user)
        m = await ledger.membership(found.id)
        sub = m.subscription
        return {
            "user_id": found.id,
            "handle": found.handle,
            "active": m.active,
            "tier": m.entitlement.tier,
            "active_until": m.entitlement.active_until,
            "source": m.entitlement.source,
            "auto_renew": m.auto_renew,
            "subscription": sub.stripe_id if sub else None,
            "status": sub.status if sub else None,
            "periods": [
                {
                    "source": p.source,
                    "reference": p.reference,
                    "starts_at": p.starts_at,
                    "ends_at": p.ends_at,
                    "amount": p.amount,
                    "currency": p.currency,
                    "refunded": p.refunded,
                    "revoked": p.revoked_at is not None,
                    "note": p.note,
                }
                for p in m.periods
            ],
        }

    record = run(work)
    if as_json:
        emit_one(_jsonable(record), True)
        return
    periods = record.pop("periods")
    emit_one(record, False, title="membership")
    emit(periods, False, title="periods")


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    from ncm.cli.common import _plain

    out = dict(record)
    out["periods"] = [{k: _plain(v) for k, v in p.items()} for p in record["periods"]]
    return out


@app.command()
def grant(
    user: str = typer.Argument(..., help="Id, email or handle."),
    days: int = typer.Option(..., "--days", min=1, help="How many days of membership."),
    reason: str = typer.Option(..., "--reason", help="Why (kept on the period)."),
    grant_id: str | None = typer.Option(None, "--grant-id", help="Makes re-running a no-op."),
    as_json: bool = JsonOption,
) -> None:
    """Give a user membership days, after their current membership ends (or from now)."""
    from ncm.accounts import service as accounts
    from ncm.billing import grants

    async def work() -> dict[str, Any]:
        found = await accounts.find_user(user)
        p = await grants.admin_grant(found.id, days, reason, grant_id=grant_id, operator=operator())
        return {
            "user_id": found.id,
            "reference": p.reference,
            "starts_at": p.starts_at,
            "ends_at": p.ends_at,
            "note": p.note,
        }

    emit_one(run(work), as_json, title="granted")


@app.command()
def duplicates(
    user: str | None = typer.Option(None, "--user", help="Only this user's (id, email or handle)."),
    limit: int = typer.Option(50, min=1, max=1000),
    as_json: bool = JsonOption,
) -> None:
    """Second live subscriptions that were ended, newest first: which one was kept, which
    invoice was refunded and how much (REFUNDED), or CANCELED when nothing was paid."""
    from ncm.accounts import service as accounts
    from ncm.billing import duplicates as resolved

    async def work() -> list[dict[str, Any]]:
        user_id = (await accounts.find_user(user)).id if user is not None else None
        return [
            {
                "user_id": d.user_id,
                "ended": d.subscription_ref,
                "kept": d.kept_ref,
                "state": d.state,
                "invoice": d.invoice_ref,
                "refund": d.refund_ref,
                "amount_refunded": d.amount_refunded,
                "currency": d.currency,
                "resolved_at": d.resolved_at,
            }
            for d in await resolved.resolutions(user_id, limit)
        ]

    emit(run(work), as_json, title="duplicate subscriptions")


@events_app.command("list")
def events_list(
    failed: bool = typer.Option(False, "--failed", help="Only events that failed."),
    waiting: bool = typer.Option(
        False, "--waiting", help="Only events waiting for their customer to be linked."
    ),
    limit: int = typer.Option(50, min=1, max=1000),
    as_json: bool = JsonOption,
) -> None:
    """Received webhook events, newest first. WAITING: its Stripe customer is not linked to
    a user yet; it is retried by itself when the link appears."""
    from ncm.billing import webhooks

    async def work() -> list[dict[str, Any]]:
        return [
            {
                "id": e.stripe_id,
                "type": e.type,
                "status": e.status,
                "attempts": e.attempts,
                "created": e.created,
                "received_at": e.received_at,
                "waiting_on": e.waiting_on,
                "error": e.last_error[:120],
            }
            for e in await webhooks.list_events(failed=failed, waiting=waiting, limit=limit)
        ]

    title = " and ".join(n for n, on in (("failed", failed), ("waiting", waiting)) if on)
    emit(run(work), as_json, title=f"{title} events" if title else "events")


@events_app.command("replay")
def events_replay(
    event_id: str = typer.Argument(..., help="The Stripe event id (evt_...)."),
    as_json: bool = JsonOption,
) -> None:
    """Process a stored event again (idempotent), e.g. after fixing what made it fail."""
    from ncm.billing import webhooks

    async def work() -> dict[str, Any]:
        status = await webhooks.replay(event_id)
        return {"id": event_id, "status": status}

    record = run(work)
    emit_one(record, as_json, title="replayed")
    if record["status"] == "FAILED":
        raise typer.Exit(1)


@app.command()
def reconcile(
    since: datetime | None = typer.Option(
        None, "--since", formats=["%Y-%m-%d"], help="Window start, UTC (default: 2000-01-01)."
    ),
    until: datetime | None = typer.Option(
        None, "--until", formats=["%Y-%m-%d"], help="Window end, UTC, exclusive (default: now)."
    ),
    execute: bool = typer.Option(False, "--execute", help="Repair (default: dry run)."),
    as_json: bool = JsonOption,
) -> None:
    """Compare every Stripe invoice and subscription created in the window (paged) with the
    ledger and the local mirror, and local rows of the window with Stripe; report each
    difference; repair what Stripe settles with --execute."""
    from ncm.billing.reconcile import reconcile as do_reconcile

    start = since.replace(tzinfo=UTC) if since else None
    end = until.replace(tzinfo=UTC) if until else None
    with working("comparing with Stripe"):
        repairs = run(lambda: do_reconcile(start, end, execute=execute))
    rows = [
        {
            "kind": r.difference.kind,
            "object": r.difference.object,
            "stripe_id": r.difference.stripe_id,
            "user_id": r.difference.user_id,
            "field": r.difference.field,
            "local": _plain(r.difference.local),
            "stripe": _plain(r.difference.stripe),
            "problem": r.difference.message,
            "repaired": r.repaired,
        }
        for r in repairs
    ]
    if as_json:
        emit(rows, True)
        return
    if not rows:
        console.print("Local state matches Stripe.")
        return
    title = "differences" + ("" if execute else " (dry run: pass --execute to repair)")
    emit(
        [{k: row[k] for k in ("kind", "user_id", "problem", "repaired")} for row in rows],
        False,
        title=title,
    )
