"""``ncm stream``: explain playback decisions and sign URLs for debugging."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer

from ncm.cli.common import JsonOption, console, emit_one, ids_of, region_code, run, user_ref

app = typer.Typer(help="Playback: explain decisions, sign URLs.", no_args_is_help=True)

LOCAL_ORIGIN = "http://127.0.0.1:8000"
QualityOption = typer.Option(
    "BEST", "--quality", "-q", help="BEST, STANDARD, HIGHER, EXHIGH, LOSSLESS or HIRES."
)


def _quality(value: str) -> Any:
    from ncm.stream.decision import RequestedQuality

    try:
        return RequestedQuality(value.strip().upper())
    except ValueError:
        raise typer.BadParameter(f"unknown quality {value!r}", param_hint="--quality") from None


@app.command()
def explain(
    track_id: int = typer.Argument(..., parser=ids_of("Track"), help="Track id or global id."),
    user: str = typer.Option(None, "--user", "-u", help="Id, email or handle (omit: logged out)."),
    region: str = typer.Option(
        None,
        "--region",
        parser=region_code,
        help="Decide as if the user were in this region (ISO code: CN, JP, ...).",
    ),
    quality: str = QualityOption,
    base_url: str = typer.Option(LOCAL_ORIGIN, help="Origin of the URL (unless a CDN is set)."),
    as_json: bool = JsonOption,
) -> None:
    """Print the playback decision for a user and every step that led to it."""
    from ncm.accounts import service as accounts
    from ncm.stream import service

    async def work() -> Any:
        user_id = (await accounts.find_user(user_ref(user))).id if user else None
        return await service.playback(
            user_id, track_id, _quality(quality), base_url=base_url, region=region
        )

    found = run(work)
    d = found.decision
    record: dict[str, Any] = {"track": d.track_id, "outcome": d.outcome, "message": d.message}
    if d.rendition is not None:
        record |= {
            "quality": d.rendition.quality,
            "bitrate": d.rendition.bitrate,
            "format": d.rendition.format,
            "size_bytes": d.rendition.size_bytes,
        }
    if d.preview_ms is not None:
        record["preview_seconds"] = f"{d.preview_ms[0] / 1000:g}-{d.preview_ms[1] / 1000:g}"
    if d.available_qualities and d.outcome != "PLAYABLE":
        record["available_qualities"] = ", ".join(q.value for q in d.available_qualities)
    for key in ("unavailable", "available_from", "available_until", "retry_after"):
        if getattr(d, key) is not None:
            record[key] = getattr(d, key)
    record |= {"url": found.url, "expires_at": found.expires_at}
    if as_json:
        emit_one({**record, "explanation": d.explain}, True)
        return
    emit_one(record, False, title=f"track {d.track_id}")
    console.print("[bold]why[/bold]")
    for step in d.explain:
        console.print(f"  - {step}")


@app.command()
def sign(
    track_id: int = typer.Argument(..., parser=ids_of("Track"), help="Track id or global id."),
    quality: str = typer.Option(..., "--quality", "-q", help="The rendition's quality."),
    user: str = typer.Option(None, "--user", "-u", help="Put this user in the URL (default 0)."),
    ttl: int = typer.Option(
        None, "--ttl", min=60, max=86_400, help="Seconds (default NCM_STREAM_URL_TTL)."
    ),
    base_url: str = typer.Option(LOCAL_ORIGIN, help="Origin of the URL (unless a CDN is set)."),
    as_json: bool = JsonOption,
) -> None:
    """Sign a URL for a rendition directly, bypassing the decision (operators' debugging)."""
    from ncm.accounts import service as accounts
    from ncm.catalog.models import Rendition
    from ncm.errors import NotFound
    from ncm.stream import service
    from ncm.stream.decision import RenditionFacts, RequestedQuality

    wanted = _quality(quality)

    async def work() -> tuple[str, datetime]:
        from ncm.catalog.models import Track

        if not await Track.exists(id=track_id):
            raise NotFound(f"No track {track_id}.", field="track")
        if wanted == RequestedQuality.BEST:
            row = await Rendition.filter(track_id=track_id).order_by("-bitrate").first()
        else:
            row = await Rendition.get_or_none(track_id=track_id, quality=wanted.value)
        if row is None:
            raise NotFound(f"Track {track_id} has no {wanted.value} rendition.", field="quality")
        user_id = (await accounts.find_user(user_ref(user))).id if user else 0
        facts = RenditionFacts(
            row.id, row.quality, row.bitrate, row.format, row.size_bytes, row.path
        )
        return service.signed_url(
            track_id, facts, user_id, base_url=base_url, now=datetime.now(UTC), ttl=ttl
        )

    url, expires_at = run(work)
    if as_json:
        emit_one({"url": url, "expires_at": expires_at}, True)
    else:
        typer.echo(url)


@app.command()
def aggregate(as_json: bool = JsonOption) -> None:
    """Write queued plays and count pending play events now (the worker does it every
    minute)."""
    from ncm.stream.plays import settle

    emit_one(run(settle), as_json, title="aggregated")


@app.command()
def mau(
    month: str = typer.Option(..., "--month", help="YYYY-MM (UTC)."), as_json: bool = JsonOption
) -> None:
    """Monthly active users: distinct users with a play in the month."""
    from ncm.errors import InvalidInput
    from ncm.stream.plays import monthly_active_users

    try:
        year, number = (int(p) for p in month.split("-"))
        datetime(year, number, 1)
        if year > 9000:
            raise ValueError(month)
    except ValueError:
        raise typer.BadParameter("--month is YYYY-MM") from None

    async def work() -> int:
        if year < 2000:
            raise InvalidInput("--month is too early.", field="month")
        return await monthly_active_users(year, number)

    emit_one({"month": month, "monthly_active_users": run(work)}, as_json)
