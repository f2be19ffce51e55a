"""The demo catalog as data: fictional artists, albums and tracks, and three demo users.

Every name and title here is invented for the demo. ISRCs follow the real layout (country,
registrant, year, serial) with made-up registrants. External ids are ``demo-a-N`` (artists),
``demo-al-N`` (albums) and ``demo-t-N`` (tracks).

Demo accounts (they exist only where ``ncm seed demo`` ran; never in production):

==================  ==========  ===============  =========
email               handle      password         role
==================  ==========  ===============  =========
admin@demo.ncm      admin       demo-password-1  admin
listener@demo.ncm   listener    demo-password-2  listener
moderator@demo.ncm  moderator   demo-password-3  moderator
==================  ==========  ===============  =========

Audio is short on purpose (15-17 s per track) and the expensive tiers are rationed (every
track has STANDARD plus one more tier; lossless on about a third, hi-res on two) so the
generated media stays under 60 MiB.
"""

from __future__ import annotations

from dataclasses import dataclass

from ncm.accounts.models import Role
from ncm.catalog.models import FeePolicy, Quality, TrackStatus

FREE, MEMBERS, FREE_STD = FeePolicy.FREE, FeePolicy.MEMBERS_ONLY, FeePolicy.FREE_STANDARD
S, H, X, L, R = Quality.STANDARD, Quality.HIGHER, Quality.EXHIGH, Quality.LOSSLESS, Quality.HIRES

# Slugs; the importer creates a missing genre and names it after its slug (Hip-Hop).
GENRES: tuple[str, ...] = ("electronic", "dance", "hip-hop", "soundtrack", "rock", "pop")


@dataclass(frozen=True)
class DemoLicense:
    region: str  # ISO 3166-1 alpha-2, or * for everywhere
    available_from: str | None = None  # ISO 8601 UTC
    available_until: str | None = None


@dataclass(frozen=True)
class DemoArtist:
    id: int
    name: str
    region: str


@dataclass(frozen=True)
class DemoAlbum:
    id: int
    title: str
    artist: int
    release_date: str


@dataclass(frozen=True)
class DemoTrack:
    id: int
    isrc: str
    title: str
    album: int
    number: int
    artists: tuple[int, ...]  # credit order; the first is the main artist
    seconds: int
    language: str | None  # None: instrumental
    genres: tuple[str, ...]  # the first picks the sound of the generated audio
    fee_policy: FeePolicy
    qualities: tuple[Quality, ...]
    explicit: bool = False
    status: TrackStatus = TrackStatus.AVAILABLE
    licenses: tuple[DemoLicense, ...] = (DemoLicense("*"),)


@dataclass(frozen=True)
class DemoUser:
    email: str
    handle: str
    password: str
    display_name: str
    role: Role


GREATER_CHINA = (DemoLicense("CN"), DemoLicense("HK"), DemoLicense("TW"))
UPCOMING = (DemoLicense("*", available_from="2031-01-01T00:00:00+00:00"),)
EXPIRED = (DemoLicense("*", available_until="2025-06-30T00:00:00+00:00"),)

ARTISTS: tuple[DemoArtist, ...] = (
    DemoArtist(1, "苏晚晴", "CN"),
    DemoArtist(2, "周以宁", "TW"),
    DemoArtist(3, "霓虹工厂", "CN"),
    DemoArtist(4, "陆知行", "CN"),
    DemoArtist(5, "白鹭乐队", "CN"),
    DemoArtist(6, "山海合奏团", "CN"),
    DemoArtist(7, "麦颂恩", "HK"),
    DemoArtist(8, "Velvet Static", "GB"),
    DemoArtist(9, "Ines Calloway", "US"),
    DemoArtist(10, "The Hollow Meridian", "AU"),
    DemoArtist(11, "Dex Marlow", "US"),
    DemoArtist(12, "Fjellheim Sound Ensemble", "NO"),
    DemoArtist(13, "Luma Drift", "DE"),
    DemoArtist(14, "ミナモ", "JP"),
    DemoArtist(15, "블루린", "KR"),
)

ALBUMS: tuple[DemoAlbum, ...] = (
    DemoAlbum(1, "玻璃海岸", 1, "2021-05-20"),
    DemoAlbum(2, "候鸟航线", 2, "2019-09-06"),
    DemoAlbum(3, "无人区电台", 3, "2023-03-17"),
    DemoAlbum(4, "凌晨四点", 4, "2022-11-11"),
    DemoAlbum(5, "铁轨与萤火", 5, "2018-07-28"),
    DemoAlbum(6, "山雾回声 电影原声带", 6, "2024-01-12"),
    DemoAlbum(7, "维港慢车", 7, "2020-10-02"),
    DemoAlbum(8, "Afterglow Protocol", 8, "2022-04-08"),
    DemoAlbum(9, "Paper Crowns", 9, "2023-08-25"),
    DemoAlbum(10, "Copper Lines", 10, "2017-03-03"),
    DemoAlbum(11, "Concrete Garden", 11, "2021-06-18"),
    DemoAlbum(12, "Northbound Signal (Original Score)", 12, "2019-12-06"),
    DemoAlbum(13, "Tidewater", 13, "2024-06-14"),
    DemoAlbum(14, "水面のラジオ", 14, "2022-07-20"),
    DemoAlbum(15, "파란 신호", 15, "2023-10-05"),
)

_T = DemoTrack
# id, ISRC, title, album, track number, artists, seconds, language, genres, fee policy, qualities
# (S standard, H higher, X exhigh, L lossless, R hi-res), then what differs from the defaults.
TRACKS: tuple[DemoTrack, ...] = (
    # Mandarin pop
    _T(1, "CNA7Q2100001", "玻璃海岸", 1, 1, (1,), 15, "zh", ("pop",), FREE, (S, L)),
    _T(2, "CNA7Q2100002", "橘子汽水的夏天", 1, 2, (1,), 16, "zh", ("pop",), FREE_STD, (S, X)),
    _T(3, "TWK3N1900001", "候鸟航线", 2, 1, (2,), 15, "zh", ("pop",), FREE, (S, L)),
    _T(4, "TWK3N1900002", "第七条街的雨", 2, 2, (2,), 15, "zh", ("pop",), MEMBERS, (S, L, R)),
    _T(5, "TWK3N1900003", "纸飞机没有回信", 2, 3, (2,), 16, "zh", ("pop",), FREE, (S, H)),
    # Chinese electronic
    _T(6, "CNF2M2300001", "无人区电台", 3, 1, (3,), 15, None, ("electronic",), FREE_STD, (S, L)),
    _T(7, "CNF2M2300002", "霓虹夜航", 3, 2, (3,), 17, "zh", ("electronic", "dance"), FREE, (S, H)),
    _T(8, "CNF2M2300003", "云端信号", 3, 3, (3, 8), 16, "zh", ("electronic",), MEMBERS, (S, X)),
    # Mandarin hip-hop
    _T(
        9,
        "CNH9P2200001",
        "凌晨四点的便利店",
        4,
        1,
        (4,),
        17,
        "zh",
        ("hip-hop",),
        FREE,
        (S, H),
        explicit=True,
    ),
    _T(
        10,
        "CNH9P2200002",
        "不插电的夜",
        4,
        2,
        (4, 11),
        15,
        "zh",
        ("hip-hop",),
        MEMBERS,
        (S, L),
        explicit=True,
    ),
    # Chinese rock
    _T(11, "CNB4L1800001", "铁轨与萤火", 5, 1, (5,), 15, "zh", ("rock",), FREE, (S, L)),
    _T(
        12,
        "CNB4L1800002",
        "北纬三十度的雪",
        5,
        2,
        (5,),
        17,
        "zh",
        ("rock",),
        FREE,
        (S, H),
        licenses=GREATER_CHINA,
    ),
    _T(
        13,
        "CNB4L1800003",
        "慢车",
        5,
        3,
        (5,),
        15,
        "zh",
        ("rock",),
        FREE,
        (S,),
        status=TrackStatus.WITHDRAWN,
    ),
    # Chinese film score
    _T(14, "CNS6E2400001", "山雾回声", 6, 1, (6,), 15, None, ("soundtrack",), FREE, (S, L, R)),
    _T(15, "CNS6E2400002", "长亭送别", 6, 2, (6,), 16, None, ("soundtrack",), FREE_STD, (S, H)),
    # Cantopop
    _T(
        16,
        "HKM2S2000001",
        "维港慢车",
        7,
        1,
        (7,),
        16,
        "yue",
        ("pop",),
        FREE,
        (S, H),
        licenses=GREATER_CHINA,
    ),
    _T(
        17,
        "HKM2S2000002",
        "旺角落雨天",
        7,
        2,
        (7,),
        15,
        "yue",
        ("pop",),
        MEMBERS,
        (S, X),
        licenses=GREATER_CHINA,
    ),
    # International electronic and dance
    _T(
        18,
        "GBV8T2200001",
        "Afterglow Protocol",
        8,
        1,
        (8,),
        17,
        None,
        ("electronic",),
        FREE,
        (S, H),
    ),
    _T(
        19,
        "GBV8T2200002",
        "Static Bloom",
        8,
        2,
        (8,),
        15,
        "en",
        ("electronic", "dance"),
        FREE_STD,
        (S, L),
    ),
    _T(
        20,
        "GBV8T2200003",
        "Low Orbit Lullaby",
        8,
        3,
        (8,),
        16,
        "en",
        ("electronic",),
        FREE,
        (S, H),
        licenses=EXPIRED,
    ),
    _T(
        21,
        "DEL9D2400001",
        "Tidewater",
        13,
        1,
        (13,),
        16,
        "en",
        ("dance", "electronic"),
        FREE,
        (S, H),
    ),
    _T(
        22,
        "DEL9D2400002",
        "Velvet Circuit",
        13,
        2,
        (13,),
        16,
        "en",
        ("dance",),
        FREE_STD,
        (S, X),
        licenses=UPCOMING,
    ),
    # International pop
    _T(23, "USC1W2300001", "Paper Crowns", 9, 1, (9,), 16, "en", ("pop",), FREE, (S, H)),
    _T(
        24, "USC1W2300002", "Midnight Ferris Wheel", 9, 2, (9,), 16, "en", ("pop",), MEMBERS, (S, X)
    ),
    # International rock
    _T(25, "AUH7M1700001", "Holloway Lights", 10, 1, (10,), 15, "en", ("rock",), FREE_STD, (S, X)),
    # US hip-hop
    _T(
        26,
        "USD5X2100001",
        "Concrete Garden",
        11,
        1,
        (11,),
        17,
        "en",
        ("hip-hop",),
        FREE,
        (S, H),
        explicit=True,
    ),
    _T(
        27,
        "USD5X2100002",
        "Slow Burn Avenue",
        11,
        2,
        (11,),
        16,
        "en",
        ("hip-hop",),
        MEMBERS,
        (S, X),
        explicit=True,
    ),
    # Orchestral score
    _T(
        28,
        "NOF3J1900001",
        "Northbound Signal",
        12,
        1,
        (12,),
        15,
        None,
        ("soundtrack",),
        FREE,
        (S, L),
    ),
    # Japanese and Korean
    _T(29, "JPM4N2200001", "水面のラジオ", 14, 1, (14,), 16, "ja", ("pop",), FREE_STD, (S, H)),
    _T(30, "JPM4N2200002", "夏雲サイレン", 14, 2, (14,), 15, "ja", ("rock", "pop"), FREE, (S, H)),
    _T(31, "KRB6R2300001", "파란 신호", 15, 1, (15,), 15, "ko", ("dance", "pop"), FREE, (S, L)),
    _T(32, "KRB6R2300002", "새벽 정류장", 15, 2, (15,), 16, "ko", ("pop",), MEMBERS, (S, H)),
    # The examples of docs/search.md: 晴天 in two titles, by 苏晚晴 and 周以宁.
    _T(33, "CNA7Q2100003", "晴天的信", 1, 3, (1,), 15, "zh", ("pop",), FREE, (S, H)),
    _T(34, "TWK3N1900004", "晴天以后", 2, 4, (2,), 15, "zh", ("pop",), FREE, (S, H)),
)

USERS: tuple[DemoUser, ...] = (
    DemoUser("admin@demo.ncm", "admin", "demo-password-1", "Demo Admin", Role.ADMIN),
    DemoUser("listener@demo.ncm", "listener", "demo-password-2", "Demo Listener", Role.LISTENER),
    DemoUser(
        "moderator@demo.ncm", "moderator", "demo-password-3", "Demo Moderator", Role.MODERATOR
    ),
)
