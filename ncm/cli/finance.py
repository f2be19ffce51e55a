"""``ncm finance``: Finance: revenue reports, rates, closing months, reconciliation."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

import typer

from ncm.cli.common import JsonOption, console, emit, emit_one, fail, run
from ncm.cli.progress import working

app = typer.Typer(
    help="Finance: revenue reports, rates, closing months, reconciliation.", no_args_is_help=True
)
rates_app = typer.Typer(help="Exchange rates finance keeps.", no_args_is_help=True)
app.add_typer(rates_app, name="rates")

FORMATS = ("table", "csv", "json")


def _format(value: str) -> str:
    if value not in FORMATS:
        fail(f"--format is one of {', '.join(FORMATS)}")
    return value


def _output(lines: list[dict[str, Any]], document: Any, fmt: str, title: str) -> None:
    if fmt == "json":
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
    elif fmt == "csv":
        buffer = io.StringIO()
        columns: list[str] = []
        for line in lines:
            columns += [k for k in line if k not in columns]
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(lines)
        typer.echo(buffer.getvalue(), nl=False)
    else:
        emit(lines, False, title=title)


@app.command()
def report(
    start: str = typer.Option(..., "--from", help="First month, YYYY-MM."),
    end: str = typer.Option(..., "--to", help="Last month, YYYY-MM."),
    currency: str | None = typer.Option(
        None, "--currency", help="Convert to this currency with the rates finance keeps."
    ),
    by: str | None = typer.Option(None, "--by", help="plan, region or currency."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
) -> None:
    """Recognised revenue, paying users, ARPPU, ARPU, MRR and its movements, per month."""
    from ncm.finance.report import revenue_report

    fmt = _format(fmt)
    with working(f"revenue report {start}..{end}"):
        result = run(lambda: revenue_report(start, end, by=by, currency=currency))
    lines = result.lines()
    _output(lines, result.to_json(), fmt, f"revenue {result.start}..{result.end}")
    adjustments = [a for m in result.months for a in m["adjustments"]]
    if fmt == "table" and adjustments:
        emit(adjustments, False, title="adjustments to closed months")


@app.command()
def mix(
    start: str = typer.Option(..., "--from", help="First month, YYYY-MM."),
    end: str = typer.Option(..., "--to", help="Last month, YYYY-MM."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
) -> None:
    """The listening mix: counted plays by the main artist's region and by genre."""
    from ncm.finance.mix import listening_mix

    fmt = _format(fmt)
    with working(f"listening mix {start}..{end}"):
        months = run(lambda: listening_mix(start, end))
    lines = [
        {
            "month": m["month"],
            "kind": kind,
            "key": x.get("region") or x.get("genre"),
            "plays": x["plays"],
            "share": x["share"],
        }
        for m in months
        for kind, items in (("region", m["regions"]), ("genre", m["genres"]))
        for x in items
    ]
    _output(lines, months, fmt, "listening mix")


@app.command("close-month")
def close_month(
    month: str = typer.Argument(..., help="YYYY-MM"), as_json: bool = JsonOption
) -> None:
    """Store the month's figures; they never change again (later changes are adjustments)."""
    from ncm.cli.comments import operator
    from ncm.finance import closing

    done = run(lambda: closing.close_month(month, by=operator()))
    emit_one(
        {"month": done.month, "closed_at": done.closed_at, "closed_by": done.closed_by}, as_json
    )


@app.command()
def reopen(
    month: str = typer.Argument(..., help="YYYY-MM"),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the audit)."),
    as_json: bool = JsonOption,
) -> None:
    """Re-open the latest closed month (an admin act, audited with its reason)."""
    from ncm.cli.comments import operator
    from ncm.finance import closing

    run(lambda: closing.reopen_month(month, reason, by=operator()))
    emit_one({"month": month, "reopened": True, "reason": reason}, as_json)


@app.command()
def audit(
    month: str | None = typer.Option(None, "--month", help="Only this month, YYYY-MM."),
    as_json: bool = JsonOption,
) -> None:
    """Who closed and re-opened which month, when and why."""
    from ncm.finance import closing

    rows = run(lambda: closing.audit(month))
    emit(
        [
            {
                "month": r.month.isoformat()[:7],
                "action": r.action,
                "actor": r.actor,
                "reason": r.reason,
                "at": r.at,
            }
            for r in rows
        ],
        as_json,
        title="month audit",
    )


@app.command()
def reconcile(
    month: str = typer.Option(..., "--month", help="YYYY-MM"), as_json: bool = JsonOption
) -> None:
    """Compare the month's paid invoices with Stripe's; exit 1 when anything differs."""
    from ncm.finance.reconcile import reconcile_month

    with working(f"reconciling {month} with Stripe"):
        result = run(lambda: reconcile_month(month))
    rows = [d.to_json() for d in result.differences]
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "month": result.month,
                    "stripe_invoices": result.stripe_invoices,
                    "ledger_periods": result.ledger_periods,
                    "differences": rows,
                },
                indent=2,
            )
        )
    elif rows:
        emit(rows, False, title=f"differences {result.month}")
    else:
        console.print(
            f"{result.month}: {result.stripe_invoices} Stripe invoices and"
            f" {result.ledger_periods} ledger periods agree."
        )
    if rows:
        raise typer.Exit(1)


@app.command("rollup-plays")
def rollup_plays(
    day: datetime | None = typer.Option(
        None, "--day", formats=["%Y-%m-%d"], help="One day (default: the last 31 days)."
    ),
) -> None:
    """Rebuild the daily play rollup the listening mix reads (the nightly job does this)."""
    from ncm.finance import mix as mix_service

    with working("rolling up plays"):
        if day is not None:
            written = run(lambda: mix_service.rollup_day(day.date()))
        else:
            written = run(mix_service.rollup_recent)
    console.print(f"{written} rollup rows written.")


@rates_app.command("set")
def rates_set(
    base: str = typer.Argument(..., help="e.g. USD"),
    quote: str = typer.Argument(..., help="e.g. CNY"),
    rate: str = typer.Argument(..., help="Units of QUOTE per unit of BASE, e.g. 7.1234."),
    valid_from: datetime = typer.Option(
        ..., "--from", formats=["%Y-%m-%d"], help="First UTC day it is in force."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Set a rate in force from a day until the pair's next rate."""
    from ncm.cli.comments import operator
    from ncm.finance import rates

    r = run(lambda: rates.set_rate(base, quote, rate, valid_from.date(), set_by=operator()))
    emit_one({"base": r.base, "quote": r.quote, "rate": str(r.rate), "from": r.valid_from}, as_json)


@rates_app.command("list")
def rates_list(
    base: str | None = typer.Option(None, "--base"),
    quote: str | None = typer.Option(None, "--quote"),
    as_json: bool = JsonOption,
) -> None:
    """Every rate finance keeps."""
    from ncm.finance import rates

    rows = run(lambda: rates.list_rates(base, quote))
    emit(
        [
            {"base": r.base, "quote": r.quote, "rate": str(r.rate), "from": r.valid_from}
            for r in rows
        ],
        as_json,
        title="rates",
    )
