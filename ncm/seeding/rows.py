"""Rows of the scale seed, generated in Python: artists, albums, tracks and users.

Every unique value (external ids, ISRCs, emails, handles) derives from the row's id, so a run
adds rows after the existing ones and can run again. ``search_text`` is exactly
:func:`ncm.search.text.document_tokens` of the row: titles and names are tokenized once per
distinct string and merged per row, and :meth:`CatalogRows.self_check` /
:meth:`UserRows.self_check` compare the first rows with ``document_tokens`` itself.
What both Python and SQL must agree on (a track's album, featured artist, duration) comes
from integer formulas and the lookup tables below, which the SQL side mirrors.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import chain
from typing import Any

from ncm.kit.progress import Echo, step
from ncm.search.text import document_tokens
from ncm.seeding.names import LANGUAGE_SHARES, Names, Tokens, merge, pareto, pick_language
from ncm.seeding.words import HANDLE_ADJ, HANDLE_NOUN

BENCH_PASSWORD = "bench-password-1"
EXTERNAL_PREFIX = "scale"  # external_id = "scale:<kind>:<id>"
# ISO 3166 reserves ZZ for user assignment: no real recording has an ISRC starting with it.
ISRC_COUNTRY = "ZZ"
EMAIL_DOMAIN = "bench.example.com"
PROGRESS_EVERY = 250_000
CHECK_ROWS = 300  # rows of each table re-tokenized with document_tokens before the load

USER_REGIONS = ["CN"] * 12 + ["TW", "HK", "SG", "MY"] * 2 + ["JP"] * 3 + ["US", "GB", "CA", "AU"]
REGION_LANGUAGE = {"JP": "ja", "US": "en", "GB": "en", "CA": "en", "AU": "en"}
ARTIST_REGIONS = {
    "zh": ["CN", "CN", "CN", "TW", "HK", "SG"],
    "en": ["US", "GB", "CA", "AU"],
    "ja": ["JP"],
}
FEE_POLICIES = ["FREE"] * 14 + ["FREE_STANDARD"] * 4 + ["MEMBERS_ONLY"] * 2
FEATURED_SHARE = 0.3

# Renditions: quality, kbit/s, format, share of tracks that have it.
RENDITIONS: list[tuple[str, int, str, float]] = [
    ("STANDARD", 128, "mp3", 1.0),
    ("HIGHER", 192, "mp3", 0.6),
    ("EXHIGH", 320, "mp3", 1.0),
    ("LOSSLESS", 900, "flac", 0.4),
    ("HIRES", 2304, "flac", 0.1),
]
# Ids reserved per track in the tables filled by SQL (id = first + stride * n + slot).
STRIDES = {"track_artists": 2, "track_genres": 2, "renditions": len(RENDITIONS), "licenses": 1}
CATALOG_TABLES = ["artists", "albums", "tracks", *STRIDES]

# Lookup tables shared with the SQL side: a track's duration and featured artist depend on
# its id through these (``id & (size - 1)``), so both sides agree without a round trip.
DURATION_SLOTS = 4096
FEATURE_SLOTS = 65536

_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def isrc_for(track_id: int) -> str:
    """``ZZ`` + a 3-character registrant + 2-digit year + 5-digit designation, from the id."""
    return f"{_registrant(track_id // 10_000_000)}{track_id % 10_000_000:07d}"


_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _registrant(high: int) -> str:
    return ISRC_COUNTRY + _B36[high // 1296 % 36] + _B36[high // 36 % 36] + _B36[high % 36]


def _pg_time(moment: datetime) -> tuple[int]:
    # timestamptz in asyncpg's "tuple" format: microseconds since 2000-01-01 UTC. Encoding
    # datetime objects costs more Python time than generating the rest of a track row.
    delta = moment - _PG_EPOCH
    return ((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds,)


def times(days: int) -> list[tuple[int]]:
    """4096 creation times over the last ``days`` days, oldest first (rows pick by position)."""
    now = datetime.now(UTC).replace(microsecond=0)
    return [_pg_time(now - timedelta(days=days * (1 - i / 4096))) for i in range(4096)]


def _check(kind: str, produced: str, expected: str) -> None:
    if produced != expected:
        raise RuntimeError(
            f"scale seed: {kind} search_text {produced!r} is not document_tokens' {expected!r};"
            " ncm/search/text.py changed in a way the generator does not follow"
        )


def progress(rows: Iterator[tuple[Any, ...]], table: str, total: int, echo: Echo) -> Iterator[Any]:
    n = 0
    for n, row in enumerate(rows, 1):
        if n % PROGRESS_EVERY == 0 and n < total:
            step(echo, table, n, total)
        yield row
    step(echo, table, n, total)


@dataclass
class Ranges:
    """First id and count per table (ids ``first .. first + count * stride - 1``)."""

    first: dict[str, int] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, table: str) -> tuple[int, int]:
        return self.first.get(table, 0), self.count.get(table, 0)


@dataclass
class Plan:
    tracks: int
    users: int
    rebuild: bool | None
    fk_off: bool
    ranges: Ranges
    genre_ids: dict[str, int]
    seed: int


class CatalogRows:
    """The Python side of the catalog: artists, albums and tracks (with search_text)."""

    ARTIST_COLUMNS = (
        "id",
        "external_id",
        "name",
        "bio",
        "avatar_url",
        "region",
        "subscriber_count",
        "search_text",
        "created_at",
    )
    ALBUM_COLUMNS = (
        "id",
        "external_id",
        "title",
        "artist_id",
        "release_date",
        "cover_url",
        "comment_count",
        "subscriber_count",
        "share_count",
        "search_text",
        "created_at",
    )
    TRACK_COLUMNS = (
        "id",
        "external_id",
        "isrc",
        "title",
        "album_id",
        "disc_number",
        "track_number",
        "duration_ms",
        "language",
        "explicit",
        "fee_policy",
        "status",
        "play_count",
        "like_count",
        "comment_count",
        "subscriber_count",
        "share_count",
        "search_text",
        "created_at",
        "updated_at",
    )

    def __init__(self, plan: Plan) -> None:
        rng = self.rng = random.Random(plan.seed)
        names = Names(rng)
        tok = self.tok = Tokens()
        self.a_first, self.n_artists = plan.ranges["artists"]
        self.al_first, self.n_albums = plan.ranges["albums"]
        self.t_first, self.n_tracks = plan.ranges["tracks"]
        self.artist_language = [pick_language(rng) for _ in range(self.n_artists)]
        self.artist_names = [names.artist(lang) for lang in self.artist_language]
        # Titles come from a pool per language (titles repeat, as real ones do), tokenized once.
        pool = max(200, min(40_000, self.n_tracks // 6))
        self.titles: dict[str, list[tuple[str, tuple[str, ...], str]]] = {}
        for language, share in LANGUAGE_SHARES:
            found = [names.title(language) for _ in range(max(1, pool * share // 100))]
            self.titles[language] = [(t, tok(t), " ".join(tok(t))) for t in found]
        # Albums: popular artists have more of them; ~12 % of others' albums are in English.
        self.album_artist = [
            int(self.n_artists * rng.random() ** 1.6) for _ in range(self.n_albums)
        ]
        self.album_language = []
        self.album_title = []
        for artist in self.album_artist:
            language = self.artist_language[artist]
            if language != "en" and rng.random() < 0.12:
                language = "en"
            self.album_language.append(language)
            self.album_title.append(rng.choice(self.titles[language])[0])
        # Featured artist of a track: an offset from its main artist (0: none).
        self.feature_offsets = [
            1 + int(rng.random() * (self.n_artists - 1))
            if self.n_artists > 1 and rng.random() < FEATURED_SHARE
            else 0
            for _ in range(FEATURE_SLOTS)
        ]
        self.durations = [
            100_000 + int(rng.random() * 150_000) + int(rng.random() * 150_000)
            for _ in range(DURATION_SLOTS)
        ]
        self.times = times(3650)

    def artist_rows(self) -> Iterator[tuple[Any, ...]]:
        rng, tok, times = self.rng, self.tok, self.times
        n = max(1, self.n_artists)
        for i, name in enumerate(self.artist_names):
            pk = self.a_first + i
            yield (
                pk,
                f"{EXTERNAL_PREFIX}:artist:{pk}",
                name,
                "",
                f"https://img.example.com/artists/{pk}.jpg" if rng.random() < 0.8 else None,
                rng.choice(ARTIST_REGIONS[self.artist_language[i]]),
                pareto(rng, 20, 0.8, 50_000_000),
                " ".join(tok(name)),
                times[i * 4096 // n],
            )

    def album_rows(self) -> Iterator[tuple[Any, ...]]:
        rng, tok, times = self.rng, self.tok, self.times
        epoch = date(1975, 1, 1).toordinal()
        span = date(2025, 6, 30).toordinal() - epoch
        n = max(1, self.n_albums)
        for i, artist in enumerate(self.album_artist):
            pk = self.al_first + i
            title = self.album_title[i]
            yield (
                pk,
                f"{EXTERNAL_PREFIX}:album:{pk}",
                title,
                self.a_first + artist,
                date.fromordinal(epoch + int(span * rng.random() ** 0.5)),
                f"https://img.example.com/albums/{pk}.jpg",
                pareto(rng, 2, 0.9, 5_000_000),
                pareto(rng, 10, 0.8, 20_000_000),
                pareto(rng, 1, 0.9, 2_000_000),
                merge(tok(title), tok(self.artist_names[artist])),
                times[i * 4096 // n],
            )

    def credits(self, offset: int) -> list[int]:
        """Artist ids of the track at this offset, in credit order (mirrors the SQL)."""
        main = self.album_artist[offset * self.n_albums // self.n_tracks]
        feature = self.feature_offsets[(self.t_first + offset) & (FEATURE_SLOTS - 1)]
        artists = [self.a_first + main]
        if feature:
            artists.append(self.a_first + (main + feature) % self.n_artists)
        return artists

    def track_rows(self) -> Iterator[tuple[Any, ...]]:
        # The hot loop (a million iterations): locals only, no calls it can avoid.
        rng, tok = self.rng, self.tok
        random_ = rng.random
        n_tracks, n_albums, n_artists = self.n_tracks, self.n_albums, self.n_artists
        t_first, al_first = self.t_first, self.al_first
        times, durations, features = self.times, self.durations, self.feature_offsets
        fees = FEE_POLICIES
        n_fees = len(fees)
        artist_tokens = [tok(name) for name in self.artist_names]
        album_tokens = [tok(title) for title in self.album_title]
        external = f"{EXTERNAL_PREFIX}:track:"
        registrants: dict[int, str] = {}
        k = -1
        number = 0
        main = 0
        for i in range(n_tracks):
            pk = t_first + i
            album = i * n_albums // n_tracks
            if album != k:
                k, number = album, 0
                main = self.album_artist[k]
                language = self.album_language[k]
                pool = self.titles[language]
                n_pool = len(pool)
                main_tokens = artist_tokens[main]
                suffix_tokens = tuple(dict.fromkeys(chain(main_tokens, album_tokens[k])))
                suffix_set = frozenset(suffix_tokens)
                suffix = " " + " ".join(suffix_tokens) if suffix_tokens else ""
                album_id = al_first + k
                album_title = self.album_title[k]
            number += 1
            if number == 1 and random_() < 0.5:  # the title track
                title = album_title
                title_tokens = tok(title)
                title_text = " ".join(title_tokens)
            else:
                title, title_tokens, title_text = pool[int(random_() * n_pool)]
            feature = features[pk & 65535]
            if feature:
                feature_tokens = artist_tokens[(main + feature) % n_artists]
                search = merge(title_tokens, main_tokens, feature_tokens, album_tokens[k])
            elif suffix_set.isdisjoint(title_tokens):
                search = title_text + suffix if title_text else suffix[1:]
            else:
                search = merge(title_tokens, suffix_tokens)
            plays = int(40.0 * (1.0 - random_()) ** -1.35)
            if plays > 3_000_000_000:
                plays = 3_000_000_000
            high = pk // 10_000_000
            registrant = registrants.get(high)
            if registrant is None:
                registrant = registrants[high] = _registrant(high)
            created = times[i * 4096 // n_tracks]
            yield (
                pk,
                external + str(pk),
                f"{registrant}{pk % 10_000_000:07d}",
                title,
                album_id,
                1,
                number,
                durations[pk & 4095],
                language,
                random_() < 0.06,
                fees[int(random_() * n_fees)],
                "AVAILABLE",
                plays,
                plays // 23,
                plays // 311,
                plays // 97,
                plays // 1009,
                search,
                created,
                created,
            )

    def self_check(self) -> None:
        """Check the first rows against document_tokens itself (and that isrc_for agrees)."""
        state = self.rng.getstate()
        try:
            for row in _first(self.artist_rows(), CHECK_ROWS):
                _check("artist", row[7], document_tokens(row[2]))
            for row in _first(self.album_rows(), CHECK_ROWS):
                name = self.artist_names[row[3] - self.a_first]
                _check("album", row[9], document_tokens(row[2], name))
            names = self.artist_names
            for row in _first(self.track_rows(), CHECK_ROWS):
                artists = [names[a - self.a_first] for a in self.credits(row[0] - self.t_first)]
                album_title = self.album_title[row[4] - self.al_first]
                _check("track", row[17], document_tokens(row[3], *artists, album_title))
                if row[2] != isrc_for(row[0]):
                    raise RuntimeError(f"scale seed: ISRC {row[2]} of track {row[0]}")
        finally:
            self.rng.setstate(state)


def _first(rows: Iterator[tuple[Any, ...]], n: int) -> list[tuple[Any, ...]]:
    out = []
    for row in rows:
        out.append(row)
        if len(out) >= n:
            break
    return out


class UserRows:
    COLUMNS = (
        "id",
        "email",
        "handle",
        "password_hash",
        "display_name",
        "avatar_url",
        "region",
        "language",
        "role",
        "partner_id",
        "follower_count",
        "following_count",
        "search_text",
        "created_at",
        "updated_at",
    )

    def __init__(self, plan: Plan, password_hash: str) -> None:
        rng = self.rng = random.Random(plan.seed + 1)
        names = Names(rng)
        self.first, self.count = plan.ranges["users"]
        self.password_hash = password_hash
        tok = Tokens()
        size = max(100, min(60_000, self.count // 10))
        # Display names repeat (there are many 张伟); handles never contain their tokens.
        self.display = []
        for _ in range(size):
            name = names.person(pick_language(rng))
            self.display.append((name, " " + " ".join(tok(name))))
        self.times = times(3000)

    def rows(self) -> Iterator[tuple[Any, ...]]:
        random_ = self.rng.random
        display, n_display = self.display, len(self.display)
        adjectives, nouns = HANDLE_ADJ, HANDLE_NOUN
        n_adj, n_noun = len(adjectives), len(nouns)
        regions, n_regions = USER_REGIONS, len(USER_REGIONS)
        languages = REGION_LANGUAGE
        times, count, password_hash = self.times, self.count, self.password_hash
        email_suffix = "@" + EMAIL_DOMAIN
        for i in range(count):
            pk = self.first + i
            handle = f"{adjectives[int(random_() * n_adj)]}{nouns[int(random_() * n_noun)]}{pk}"
            name, name_text = display[int(random_() * n_display)]
            region = regions[int(random_() * n_regions)]
            followers = int(3.0 * (1.0 - random_()) ** -1.25)
            if followers > 50_000_000:
                followers = 50_000_000
            created = times[i * 4096 // count]
            yield (
                pk,
                handle + email_suffix,
                handle,
                password_hash,
                name,
                None,
                region,
                languages.get(region, "zh"),
                "listener",
                None,
                followers,
                int(random_() * 300),
                handle + name_text,
                created,
                created,
            )

    def self_check(self) -> None:
        state = self.rng.getstate()
        try:
            for row in _first(self.rows(), CHECK_ROWS):
                _check("user", row[12], document_tokens(row[2], row[4]))
        finally:
            self.rng.setstate(state)
