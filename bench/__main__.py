"""``python -m bench <command>``: see bench/README.md."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from bench.harness import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    Report,
    console,
    redis_database,
)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help=f"the bench database (default {DEFAULT_DATABASE_URL})",
    )
    parser.add_argument(
        "--save", action="store_true", help="also write the results as JSON under bench/results/"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")


def _levels(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _load(parser: argparse.ArgumentParser, duration: float, *, levels: bool = False) -> None:
    if levels:
        parser.add_argument(
            "--connections",
            type=_levels,
            default=[16],
            help="concurrent connections; a list (1,16) runs each level",
        )
    else:
        parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    parser.add_argument("--duration", type=float, default=duration, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument(
        "--redis-url",
        default=DEFAULT_REDIS_URL,
        help="NCM_REDIS_URL for the server: 'auto' (default) claims an empty"
        " database in 1-15 for the run, '' runs without Redis",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin the server and the load generator to cores",
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    seed = commands.add_parser("seed", help="create, migrate and fill the bench database")
    _common(seed)
    seed.add_argument("--tracks", type=int, default=1_000_000)
    seed.add_argument("--users", type=int, default=1_000_000)
    seed.add_argument("--comments", type=int, default=0, help="comments to add after them")
    seed.add_argument(
        "--hot-track-share", type=float, default=0.2, help="share of the comments on one track"
    )
    seed.add_argument(
        "--recreate",
        action="store_true",
        help="drop the bench database first (only ncm_bench* names)",
    )
    seed.add_argument(
        "--no-vacuum",
        action="store_true",
        help="skip VACUUM (ANALYZE) after the seed (timed apart from it)",
    )

    page = commands.add_parser("track-page", help="GraphQL track page vs a plain endpoint")
    _common(page)
    _load(page, 20.0)
    page.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    page.add_argument(
        "--no-calibrate",
        action="store_true",
        help="skip measuring the load generator's own ceiling",
    )

    search = commands.add_parser("search", help="GraphQL search, Chinese and Latin queries")
    _common(search)
    _load(search, 20.0, levels=True)
    search.add_argument(
        "--search-cache",
        type=int,
        default=0,
        metavar="SECONDS",
        help="NCM_SEARCH_CACHE_SECONDS for the server: first pages served from memory"
        " for that long, then refreshed in the background (default 0: off, every search"
        " reads the database; production's default is 5)",
    )

    hot = commands.add_parser(
        "hotpath", help="track, search and comment pages: GraphQL vs plain, wrk, side by side"
    )
    _common(hot)
    _load(hot, 15.0)
    hot.add_argument("--workers", type=int, default=1, help="ncm serve worker processes")
    hot.add_argument("--plain-workers", type=int, default=1, help="plain endpoint processes")
    hot.add_argument(
        "--pages", default="", help="comma list of track,search,comment (default: all three)"
    )
    hot.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="each page's --duration split into rounds, ncm and plain taking turns (ABBA),"
        " so a slow spell of a shared machine falls on both",
    )
    hot.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="sample the ncm server with py-spy during each page's run (raw collapsed stacks,"
        " DIR/<page>.txt; needs py-spy, not a project dependency)",
    )

    profile = commands.add_parser("profile", help="where one request's time goes (cProfile)")
    _common(profile)
    profile.add_argument(
        "target", choices=["track-page", "search", "search-page", "comments-page", "comment-page"]
    )
    profile.add_argument("--requests", type=int, default=2000)
    profile.add_argument("--top", type=int, default=30, help="functions listed")
    profile.add_argument(
        "--dump", metavar="FILE", help="also write the cProfile stats (for pstats or snakeviz)"
    )

    args = parser.parse_args()
    report: Report
    if args.command == "seed":
        from bench import seed as seed_command

        report = seed_command.run(
            args.database_url,
            args.tracks,
            args.users,
            args.recreate,
            not args.no_vacuum,
            args.comments,
            args.hot_track_share,
        )
    elif args.command == "track-page":
        from bench import track_page

        with redis_database(args.redis_url) as redis_url:
            report = track_page.run(
                args.database_url,
                redis_url,
                args.connections,
                args.duration,
                args.warmup,
                args.workers,
                not args.no_pin,
                not args.no_calibrate,
            )
    elif args.command == "search":
        from bench import search as search_command

        with redis_database(args.redis_url) as redis_url:
            report = search_command.run(
                args.database_url,
                redis_url,
                args.connections,
                args.duration,
                args.warmup,
                not args.no_pin,
                args.search_cache,
            )
    elif args.command == "hotpath":
        from bench import hotpath

        with redis_database(args.redis_url) as redis_url:
            report = hotpath.run(
                args.database_url,
                redis_url,
                args.connections,
                args.duration,
                args.warmup,
                args.workers,
                args.plain_workers,
                not args.no_pin,
                [p.strip() for p in args.pages.split(",") if p.strip()] or None,
                args.py_spy,
                args.rounds,
            )
    else:
        from bench import profile as profile_command

        report = profile_command.run(
            args.database_url, args.target, args.requests, args.top, args.dump
        )
    if args.json:
        print(json.dumps(asdict(report), indent=2, ensure_ascii=False, default=str))
    if args.save:
        console.print(f"saved {report.save()}")


if __name__ == "__main__":
    main()
