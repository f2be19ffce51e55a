"""``ncm seed scale``: millions of believable rows for benchmarks (PostgreSQL only).

What one run adds, always after the existing ids (so it runs on a non-empty database, and
again: every unique value -- external ids, ISRCs, emails, handles -- derives from the new
row's id):

* ``tracks`` tracks in albums of about eight (``tracks // 8`` albums) by ``tracks // 20``
  artists. Every track credits its album's artist at position 0 and, for about 30 % of
  tracks, a featured artist at position 1; it has one or two genres (created if missing),
  STANDARD and EXHIGH renditions plus, for some, HIGHER, LOSSLESS and HIRES, and one ``*``
  license. Play counts are Pareto-distributed: a few tracks have billions of plays, the
  median about a hundred.
* ``users`` listeners. They all share one password, :data:`BENCH_PASSWORD`, hashed once with
  the application's Argon2 settings, so a benchmark can log in as any of them.

Titles and names mix Chinese, English and Japanese, built from the word lists below so that
searches hit realistic match sets: a two-character Chinese word such as ``晴天`` matches
roughly 0.3-1 % of the tracks, a five-letter English prefix such as ``summe`` a similar share.
``search_text`` is exactly :func:`ncm.search.text.document_tokens` of the row (title,
artists in credit order, album title; album: title, artist; artist: name; user: handle,
display name): titles and names are tokenized once per distinct string and merged per row,
and the first rows of every table are checked against ``document_tokens`` itself before
anything is written.

How it stays fast (a million tracks in under a minute on two cores):

* Rows that need Python (names, titles, ``search_text``) stream through one binary ``COPY``
  per table (Python and the COPY's backend keep both cores busy). Track credits, genres,
  renditions and licenses are then ``INSERT ... SELECT generate_series`` on their own
  connection, on one core while the tracks' indexes build on the other; what both sides
  must agree on (a track's album, featured artist, duration) comes from integer formulas
  and lookup tables that the SQL mirrors.
* For a big load (at least half as many rows as the table holds) the table's indexes and
  unique constraints -- the GIN search index, and the primary key unless a foreign key needs
  it -- are dropped inside the table's loading transaction and rebuilt before it commits,
  with a large ``maintenance_work_mem``. An interrupted run rolls back and leaves every
  index in place. (Building a GIN index in bulk is many times cheaper than maintaining it
  row by row; it is still the longest step: about 30 s of one core for a million tracks.)
* The report includes CPU seconds (this process, and each loading connection's backend when
  the database is local): on a shared machine they show the work, whatever the wall time.
* When the role may set ``session_replication_role`` (superusers, or ``GRANT SET ON
  PARAMETER``) and the tables have no triggers of their own, foreign keys are not checked
  row by row: the rows are consistent by construction (the tests check it). Otherwise they
  are checked as usual and each table waits for the tables it references.
* ``ANALYZE`` of every table loaded, so the planner knows the new sizes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import chain
from time import perf_counter
from typing import Any

from tortoise import connections

from ncm.errors import InvalidInput
from ncm.kit.db import is_postgres, session_settings
from ncm.search.text import document_tokens

# Every seeded user has this password (hashed once with the application's Argon2 settings).
BENCH_PASSWORD = "bench-password-1"
EXTERNAL_PREFIX = "scale"  # external_id = "scale:<kind>:<id>"
# ISO 3166 reserves ZZ for user assignment: no real recording has an ISRC starting with it.
ISRC_COUNTRY = "ZZ"
EMAIL_DOMAIN = "bench.example.com"
PROGRESS_EVERY = 250_000
MAX_ID = 2**40  # ids are multiplied by small factors in 64-bit SQL arithmetic
MAINTENANCE_WORK_MEM = "1GB"
CHECK_ROWS = 300  # rows of each table re-tokenized with document_tokens before the load
REBUILD_MIN_ROWS = 10_000  # below this, indexes are maintained row by row


def _split(text: str) -> list[str]:
    return list(dict.fromkeys(text.split()))


# slug, name, weight (how often it is a track's genre).
GENRES: list[tuple[str, str, int]] = [
    ("pop", "Pop", 14),
    ("c-pop", "C-Pop", 10),
    ("electronic", "Electronic", 7),
    ("dance", "Dance", 6),
    ("hip-hop", "Hip-Hop", 7),
    ("rock", "Rock", 7),
    ("j-pop", "J-Pop", 6),
    ("soundtrack", "Soundtrack", 5),
    ("r-and-b", "R&B", 4),
    ("folk", "Folk", 4),
    ("indie", "Indie", 4),
    ("anime", "Anime", 3),
    ("jazz", "Jazz", 2),
    ("classical", "Classical", 2),
    ("metal", "Metal", 2),
    ("ambient", "Ambient", 2),
    ("lo-fi", "Lo-Fi", 2),
    ("k-pop", "K-Pop", 3),
]

# Two-character Chinese words (every character is a CJK ideograph: one run, no spaces).
ZH_WORDS = _split(
    """
晴天 夜空 星光 月亮 海洋 城市 青春 梦想 爱情 回忆 时光 微笑 眼泪 孤单 温柔 春天 夏天 秋天
冬天 雨天 花开 烟火 流星 彩虹 白云 蓝天 森林 河流 山川 故乡 远方 旅行 告白 心跳 思念 约定
未来 明天 昨天 今夜 黎明 黄昏 日落 日出 风景 秘密 童话 天使 勇气 自由 信仰 传说 英雄 少年
少女 姑娘 朋友 兄弟 父亲 母亲 家乡 北京 上海 广州 成都 西安 南京 长安 江南 草原 沙漠 大海
岛屿 港口 街道 咖啡 红茶 玫瑰 樱花 桃花 荷花 雪花 落叶 微风 暴雨 闪电 雷声 灯火 霓虹 钢琴
吉他 舞蹈 歌声 旋律 节奏 狂欢 派对 周末 假期 列车 飞机 地铁 公路 天空 宇宙 银河 星球 月光
阳光 影子 镜子 窗外 房间 屋顶 阳台 花园 校园 教室 操场 毕业 再见 你好 晚安 早安 拥抱 亲吻
牵手 等待 离开 回来 出发 奔跑 飞翔 坠落 燃烧 融化 沉默 呼吸 心动 心碎 寂寞 快乐 幸福 悲伤
孤独 疯狂 浪漫 温暖 寒冷 永远 一生 一起 唯一 世界 人间 天堂 灵魂 生命 命运 缘分 答案 理由
故事 诗人 画家 歌手 骑士 公主 王子 国王 战士 猎人 旅人 过客 路人 陌生 熟悉 遥远 身边 心里
梦里 风中 雨中 夜里 午后 清晨 傍晚 深夜 凌晨 烟雨 江湖 长街 古城 山海 云端 星河 晚风 海风
山风 潮汐 海浪 沙滩 灯塔 码头 渡口 小船 纸鸢 风筝 蝴蝶 萤火 蜻蜓 麋鹿 鲸鱼 飞鸟 白鸽 乌鸦
光年 初恋 夜曲 晚霞 星空 夜色 月色 雪夜 春风 秋风 夏夜 冬夜 故人 知己 伙伴 恋人 情书 信封
车站 站台 航班 轮船 机场 海岸 海湾 山谷 峡谷 湖泊 溪流 瀑布 雪山 冰川 火山 极光 晨曦 夕阳
朝阳 余晖 薄雾 细雨 小雨 大雪 寒风 热浪 四季 年华 岁月 光阴 流年 往事 旧梦 美梦 噩梦 归途
旅途 征途 前方 后来 从前 现在 此刻 瞬间 刹那 永恒 誓言 谎言 真相 心愿 愿望 祝福 礼物 生日
节日 新年 除夕 元宵 中秋 端午 清明 七夕 重阳 烟花 灯笼 风铃 铃声 钟声 鼓声 琴声 笛声 口琴
提琴 舞台 剧场 电影 胶片 相机 照片 画册 日记 笔记 书信 诗篇 歌谣 民谣 摇滚 爵士 蓝调 说唱
心情 情绪 思绪 梦境 幻想 现实 真实 虚幻 勇敢 坚强 脆弱 骄傲 善良 天真 单纯 成熟 长大 老去
青涩 甜蜜 苦涩 热恋 失恋 暗恋 相爱 相遇 重逢 分手 告别 离别 想念 牵挂 守护 陪伴 依靠 信任
背叛 原谅 忘记 记得
"""
)

EN_WORDS = _split(
    """
summer winter spring autumn night nights midnight morning evening sunrise sunset daylight
dream dreams dreamer heart hearts light lights shadow shadows river rivers ocean oceans
golden silver crystal diamond velvet thunder lightning storm storms rain rainy cloud clouds
forever never always together alone lonely broken wonder wonderful stranger strangers
paradise heaven angel angels devil ghost ghosts fire flames burning frozen falling rising
flying running dancing singing calling waiting fading shining glowing breathing drifting
wild young restless reckless gentle quiet silent electric cosmic neon crimson scarlet
violet purple yellow orange emerald marble honey sugar candy cherry lemon peach berry
ocean island harbor highway street streets city cities country mountain valley desert
forest garden meadow prairie canyon glacier volcano horizon galaxy planet planets comet
orbit rocket satellite starlight moonlight sunlight firelight daydream nightmare memory
memories promise promises secret secrets story stories letter letters window windows
mirror mirrors bridge bridges castle kingdom empire throne crown queen king prince
princess soldier hunter sailor pilot driver dancer singer poet lover lovers friend
friends brother sister mother father children stranger runaway wanderer traveler
echo echoes whisper whispers voice voices silence season seasons moment moments
heartbeat pulse rhythm melody harmony chorus anthem ballad lullaby serenade symphony
radio vinyl cassette stereo guitar piano violin drums trumpet saxophone
amber anchor arrow avenue balcony bamboo beacon blossom bonfire boulevard breeze butterfly
canvas caravan carousel cascade cathedral champagne chapter circus climber compass coral
cotton crescent dagger dawning desire destiny diary dolphin eclipse embers emotion energy
escape feather festival fiction firefly flower fountain freedom frontier gravity harvest
hollow horses hurricane illusion infinity jasmine journey jungle lantern legend liberty
lilac locket machine magnet mango maple marathon meteor miracle mission monsoon nebula
needle noble oasis orchid origin palace parade passion pepper phoenix picture pillow pirate
poison portrait puzzle rebel remedy ribbon riddle saffron sapphire scarecrow shelter signal
sketch skyline snowfall spirit station stellar summit sunflower tangerine temple tender
thistle tiger timber tornado treasure trophy tunnel twilight universe victory village
vintage voyage warrior weather whistle willow wisdom wizard zenith
"""
)

EN_LEAD = ["The", "My", "Your", "Our", "Little", "Hello"]
EN_JOIN = ["of", "and", "in", "on", "from", "with", "for"]

# Japanese words: kana and kanji only (no 々, which is outside the CJK ranges of the tokenizer).
JA_WORDS = _split(
    """
桜 夜空 君 恋 花火 約束 未来 青空 星空 涙 笑顔 季節 風 雪 夢 光 影 心 空 海 月 星 雨 虹
さくら こころ ひかり そら ゆめ なみだ はなび ほし つき あめ かぜ ゆき うた こえ あした
きみ ぼく わたし ふたり ひとり ありがとう さよなら おやすみ ただいま おかえり
東京 大阪 京都 横浜 札幌 夏祭り 線香花火 放課後 教室 屋上 改札 終電 始発 帰り道 坂道
ラブソング メロディー ハート ドリーム スター ムーン サマー ウィンター ミッドナイト
シンデレラ ヒーロー ダンス パレード カーニバル ファンタジー ミラクル ジャーニー
群青 残響 紅蓮 蒼穹 陽炎 蜃気楼 流れ星 天の川 朝焼け 夕焼け 月明かり 木漏れ日
"""
)
JA_JOIN = ["の", "と", "に", "を", "が", ""]

ZH_SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
ZH_GIVEN = list(
    "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华玉兰萍红娟建文辉力宇晨浩然欣怡子轩梓涵"
    "一诺雨桐思远嘉豪俊熙若汐语嫣佳琪昊天鑫宁婷雪琳晓峰志强国栋海燕春梅秋菊冬青淑珍丹凤"
)
EN_FIRST = _split(
    """
James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Barbara
Richard Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Lisa Matthew Nancy Anthony
Betty Mark Sandra Donald Ashley Steven Emily Andrew Donna Joshua Michelle Kevin Carol
Brian Amanda George Melissa Timothy Deborah Ethan Olivia Liam Emma Noah Ava Lucas Mia
Mason Luna Logan Harper Oliver Ella Elijah Chloe Aiden Nora Caleb Lily Ryan Zoe Nathan
Hannah Isaac Grace Owen Aria Dylan Layla Leo Riley Jack Scarlett Julian Violet Miles Ruby
"""
)
EN_LAST = _split(
    """
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
Wilson Anderson Taylor Thomas Moore Jackson Martin Lee Thompson White Harris Clark Lewis
Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson
Baker Hall Rivera Campbell Mitchell Carter Roberts Parker Evans Edwards Collins Stewart
Morris Murphy Cook Rogers Morgan Peterson Cooper Reed Bailey Bell Howard Ward Cox Brooks
Sanders Price Bennett Wood Barnes Ross Henderson Coleman Jenkins Perry Powell Long Hughes
"""
)
EN_BAND_NOUNS = _split(
    """
Foxes Wolves Ravens Tigers Lions Owls Sparrows Pilots Drifters Dreamers Strangers Lovers
Kids Saints Sinners Machines Satellites Comets Rockets Shadows Echoes Waves Rivers Lights
Horizons Mirrors Arrows Daggers Roses Lilies Violets Monkeys Bears Whales Sharks Hounds
"""
)
EN_BAND_ADJ = _split(
    """
Midnight Electric Golden Silver Velvet Crimson Neon Cosmic Wild Young Restless Quiet Silent
Broken Frozen Burning Falling Rising Lonely Gentle Reckless Northern Southern Eastern Western
"""
)
JA_FAMILY = _split(
    """
佐藤 鈴木 高橋 田中 伊藤 渡辺 山本 中村 小林 加藤 吉田 山田 佐野 山口 松本 井上 木村 林
清水 山崎 森 池田 橋本 阿部 石川 山下 中島 石井 小川 前田 岡田 長谷川 藤田 後藤 近藤 村上
"""
)
JA_GIVEN = _split(
    """
翔太 大翔 蓮 陽翔 湊 悠真 結衣 陽菜 美咲 さくら 葵 凛 結菜 花子 太郎 健太 拓海 優斗 美月
あかり ひなた ゆうき みなみ はるか
"""
)
JA_BANDS = _split(
    """
ヨルシカ スピッツ ミセス ラッド アジカン サカナ ポルノ ヒゲダン ヨアソビ キング ゲス
"""
)
JA_BAND_SUFFIX = ["", "バンド", "ズ", "楽団", "少女", "少年"]

HANDLE_ADJ = _split(
    """
quiet happy lucky sunny rainy misty fuzzy jolly brave calm eager fancy gentle icy lazy
merry noble proud rapid shy silly swift tiny witty zesty cosmic neon lunar solar amber
"""
)
HANDLE_NOUN = _split(
    """
fox cat owl wolf bear panda tiger koala otter whale shark eagle raven crane lark finch
river cloud storm comet star moon sun leaf maple pine cedar fern lotus plum peach melon
"""
)


USER_REGIONS = ["CN"] * 12 + ["TW", "HK", "SG", "MY"] * 2 + ["JP"] * 3 + ["US", "GB", "CA", "AU"]
REGION_LANGUAGE = {"JP": "ja", "US": "en", "GB": "en", "CA": "en", "AU": "en"}
ARTIST_REGIONS = {
    "zh": ["CN", "CN", "CN", "TW", "HK", "SG"],
    "en": ["US", "GB", "CA", "AU"],
    "ja": ["JP"],
}
# Language shares of artists (and so of their albums and tracks), in percent.
LANGUAGE_SHARES = (("zh", 45), ("en", 35), ("ja", 20))
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

Echo = Callable[[str], object]
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _quiet(message: str) -> None:
    return None


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


def _times(days: int) -> list[tuple[int]]:
    """4096 creation times over the last ``days`` days, oldest first (rows pick by position)."""
    now = datetime.now(UTC).replace(microsecond=0)
    return [_pg_time(now - timedelta(days=days * (1 - i / 4096))) for i in range(4096)]


class _Tokens:
    """``document_tokens`` of single strings, computed once per distinct string."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str, ...]] = {}

    def __call__(self, text: str) -> tuple[str, ...]:
        found = self._cache.get(text)
        if found is None:
            joined = document_tokens(text)
            found = tuple(joined.split(" ")) if joined else ()
            self._cache[text] = found
        return found


def _merge(*token_lists: Iterable[str]) -> str:
    # document_tokens(a, b, ...) tokenizes each part on its own and keeps first occurrences.
    return " ".join(dict.fromkeys(chain(*token_lists)))


class _Words:
    """A weighted picker with a mild Zipf skew: the most common word is twice the rarest."""

    def __init__(self, rng: random.Random, words: Sequence[str]) -> None:
        self.words = list(dict.fromkeys(words))
        n = len(self.words)
        order = list(range(n))
        rng.shuffle(order)  # which words are common is random, not alphabetical
        self.cum: list[float] = []
        total = 0.0
        for rank in order:
            total += 1.0 / (rank + n)
            self.cum.append(total)
        self.rng = rng

    def pick(self, k: int = 1) -> list[str]:
        return self.rng.choices(self.words, cum_weights=self.cum, k=k)


class _Names:
    """Titles and names in three languages, from the word lists."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.zh = _Words(rng, ZH_WORDS)
        self.en = _Words(rng, EN_WORDS)
        self.ja = _Words(rng, JA_WORDS)

    def title(self, language: str) -> str:
        rng = self.rng
        roll = rng.random()
        if language == "zh":
            if roll < 0.12:
                return self.zh.pick()[0]
            if roll < 0.55:
                return "".join(self.zh.pick(2))
            if roll < 0.85:
                a, b = self.zh.pick(2)
                return f"{a}的{b}"
            return "".join(self.zh.pick(3))
        if language == "ja":
            if roll < 0.25:
                return self.ja.pick()[0]
            a, b = self.ja.pick(2)
            return f"{a}{rng.choice(JA_JOIN)}{b}"
        words = [w.capitalize() for w in self.en.pick(1 + int(roll * 3.2))]
        if len(words) > 1 and rng.random() < 0.25:
            words.insert(1, rng.choice(EN_JOIN))
        if rng.random() < 0.2:
            words.insert(0, rng.choice(EN_LEAD))
        return " ".join(words)

    def person(self, language: str) -> str:
        rng = self.rng
        if language == "zh":
            given = rng.choice(ZH_GIVEN) + (rng.choice(ZH_GIVEN) if rng.random() < 0.7 else "")
            return rng.choice(ZH_SURNAMES) + given
        if language == "ja":
            return f"{rng.choice(JA_FAMILY)} {rng.choice(JA_GIVEN)}"
        return f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}"

    def artist(self, language: str) -> str:
        rng = self.rng
        if rng.random() < 0.7:
            return self.person(language)
        if language == "ja":
            return rng.choice(JA_BANDS) + rng.choice(JA_BAND_SUFFIX)
        if language == "zh":
            return "".join(self.zh.pick(2)) + rng.choice(["乐队", "乐团", "组合", ""])
        return f"The {rng.choice(EN_BAND_ADJ)} {rng.choice(EN_BAND_NOUNS)}"


def _language(rng: random.Random) -> str:
    roll = rng.random() * 100
    for language, share in LANGUAGE_SHARES:
        if roll < share:
            return language
        roll -= share
    return LANGUAGE_SHARES[-1][0]


def _pareto(rng: random.Random, scale: float, shape: float, cap: int) -> int:
    return min(cap, int(scale * (1.0 - rng.random()) ** (-1.0 / shape)))


def _check(kind: str, produced: str, expected: str) -> None:
    if produced != expected:
        raise RuntimeError(
            f"scale seed: {kind} search_text {produced!r} is not document_tokens' {expected!r};"
            " ncm/search/text.py changed in a way the generator does not follow"
        )


def _progress(rows: Iterator[tuple[Any, ...]], table: str, total: int, echo: Echo) -> Iterator[Any]:
    for n, row in enumerate(rows, 1):
        if n % PROGRESS_EVERY == 0 and n < total:
            echo(f"  {table}: {n:,} / {total:,}")
        yield row


@dataclass
class _Ranges:
    """First id and count per table (ids ``first .. first + count * stride - 1``)."""

    first: dict[str, int] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, table: str) -> tuple[int, int]:
        return self.first.get(table, 0), self.count.get(table, 0)


@dataclass
class _Plan:
    tracks: int
    users: int
    rebuild: bool | None
    fk_off: bool
    ranges: _Ranges
    genre_ids: dict[str, int]
    seed: int


class _Catalog:
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

    def __init__(self, plan: _Plan) -> None:
        rng = self.rng = random.Random(plan.seed)
        names = _Names(rng)
        tok = self.tok = _Tokens()
        self.a_first, self.n_artists = plan.ranges["artists"]
        self.al_first, self.n_albums = plan.ranges["albums"]
        self.t_first, self.n_tracks = plan.ranges["tracks"]
        self.artist_language = [_language(rng) for _ in range(self.n_artists)]
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
        self.times = _times(3650)

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
                _pareto(rng, 20, 0.8, 50_000_000),
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
                _pareto(rng, 2, 0.9, 5_000_000),
                _pareto(rng, 10, 0.8, 20_000_000),
                _pareto(rng, 1, 0.9, 2_000_000),
                _merge(tok(title), tok(self.artist_names[artist])),
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
                search = _merge(title_tokens, main_tokens, feature_tokens, album_tokens[k])
            elif suffix_set.isdisjoint(title_tokens):
                search = title_text + suffix if title_text else suffix[1:]
            else:
                search = _merge(title_tokens, suffix_tokens)
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


class _Users:
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

    def __init__(self, plan: _Plan, password_hash: str) -> None:
        rng = self.rng = random.Random(plan.seed + 1)
        names = _Names(rng)
        self.first, self.count = plan.ranges["users"]
        self.password_hash = password_hash
        tok = _Tokens()
        size = max(100, min(60_000, self.count // 10))
        # Display names repeat (there are many 张伟); handles never contain their tokens.
        self.display = []
        for _ in range(size):
            name = names.person(_language(rng))
            self.display.append((name, " " + " ".join(tok(name))))
        self.times = _times(3000)

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


# ---------------------------------------------------------------------------------------
# The database side


def _acquire() -> Any:
    """An asyncpg connection of Tortoise's pool (``async with``), for COPY and transactions."""
    client: Any = connections.get("default")
    return client.acquire_connection()


@contextlib.asynccontextmanager
async def _session(plan: _Plan, report: _Report, lane: str) -> AsyncIterator[Any]:
    sets = f"SET maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'; SET synchronous_commit = off"
    if plan.fk_off:
        sets += "; SET session_replication_role = replica"
    async with _acquire() as conn, session_settings(conn, sets):
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        cpu_before = _backend_cpu(backend)
        await conn.set_type_codec(
            "timestamptz",
            schema="pg_catalog",
            encoder=_identity,
            decoder=_identity,
            format="tuple",
        )
        try:
            yield conn
        finally:
            cpu_after = _backend_cpu(backend)
            if cpu_before is not None and cpu_after is not None:
                report.cpu[f"db_{lane}"] = round(cpu_after - cpu_before, 2)
            # The connection goes back to Tortoise's pool as it came, or not at all.
            try:
                await conn.reset_type_codec("timestamptz", schema="pg_catalog")
            except Exception:
                conn.terminate()


def _identity(value: Any) -> Any:
    return value


def _backend_cpu(pid: int) -> float | None:
    """CPU seconds a local PostgreSQL backend has used (a diagnostic: the machine may be
    shared, so wall times alone do not say where the time went); None if not local."""
    client: Any = connections.get("default")
    if str(getattr(client, "host", "")) not in ("127.0.0.1", "localhost", "::1"):
        return None
    try:
        with open(f"/proc/{pid}/comm") as comm:
            if "postgres" not in comm.read():
                return None
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


async def _can_skip_fk_checks() -> bool:
    """Whether the loading sessions may run as ``session_replication_role = replica``.

    That skips the row-by-row foreign key checks, and every other trigger: so not if one of
    the tables has a trigger of its own (none does today).
    """
    from asyncpg.exceptions import InsufficientPrivilegeError

    async with _acquire() as conn:
        triggers = await conn.fetchval(
            "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal"
            " AND tgrelid = ANY(SELECT to_regclass(t) FROM unnest($1::text[]) t)",
            [*CATALOG_TABLES, "users"],
        )
        if triggers:
            return False
        try:
            async with session_settings(conn, "SET session_replication_role = replica"):
                return True
        except InsufficientPrivilegeError:
            return False


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _estimated_rows(conn: Any, table: str) -> int:
    estimate = await conn.fetchval(
        "SELECT reltuples::bigint FROM pg_class WHERE oid = $1::regclass", table
    )
    if estimate is None or estimate < 0:  # never vacuumed or analyzed
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    return int(estimate)


async def _indexes(conn: Any, table: str) -> list[tuple[str, str]]:
    """``(drop, create)`` statements for the table's indexes and unique constraints.

    The primary key is included unless a foreign key depends on it (as those of tracks,
    albums, artists and users do): rebuilding an index in bulk is cheaper than maintaining
    it row by row, several times so for GIN.
    """
    rows = await conn.fetch(
        """
        SELECT n.nspname, ic.relname, pg_get_indexdef(i.indexrelid) AS indexdef,
               con.conname, pg_get_constraintdef(con.oid) AS condef
        FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_namespace n ON n.oid = ic.relnamespace
        LEFT JOIN pg_constraint con
          ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
         AND con.contype IN ('p', 'u', 'x')
        WHERE i.indrelid = $1::regclass
          AND NOT EXISTS (
            SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = i.indexrelid)
        ORDER BY i.indisprimary DESC, ic.relname
        """,
        table,
    )
    statements = []
    for r in rows:
        if r["conname"]:
            name = _ident(r["conname"])
            statements.append(
                (
                    f"ALTER TABLE {table} DROP CONSTRAINT {name}",
                    f"ALTER TABLE {table} ADD CONSTRAINT {name} {r['condef']}",
                )
            )
        else:
            qualified = f"{_ident(r['nspname'])}.{_ident(r['relname'])}"
            statements.append((f"DROP INDEX {qualified}", r["indexdef"]))
    return statements


@dataclass
class _Load:
    rows: int


@dataclass
class _Report:
    echo: Echo
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def phase(self, name: str) -> AsyncIterator[None]:
        start = perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + perf_counter() - start


class _Loader:
    """One table's load in one transaction, indexes dropped and rebuilt around it if big."""

    def __init__(self, plan: _Plan, report: _Report) -> None:
        self.plan = plan
        self.report = report

    @contextlib.asynccontextmanager
    async def table(self, conn: Any, table: str, adding: int) -> AsyncIterator[_Load]:
        """``adding``: the expected row count (set ``.rows`` to the real one if it differs)."""
        rebuild = self.plan.rebuild
        if rebuild is None:
            existing = await _estimated_rows(conn, table)
            rebuild = adding >= REBUILD_MIN_ROWS and adding >= existing // 2
        start = perf_counter()
        load = _Load(adding)
        async with conn.transaction():
            indexes = await _indexes(conn, table) if rebuild else []
            for drop, _ in indexes:
                await conn.execute(drop)
            yield load
            loaded = perf_counter()
            for _, create in indexes:
                await conn.execute(create)
        end = perf_counter()
        seconds, rows = self.report.seconds, self.report.rows
        seconds[f"{table}_load"] = round(loaded - start, 2)
        seconds[f"{table}_indexes"] = round(end - loaded, 2)
        rows[table] = rows.get(table, 0) + load.rows
        rate = load.rows / (end - start) if end > start else 0.0
        rebuilt = f", {len(indexes)} indexes rebuilt in {end - loaded:.1f}s" if indexes else ""
        self.report.echo(
            f"  {table}: {load.rows:,} rows in {end - start:.1f}s ({rate:,.0f} rows/s){rebuilt}"
        )


async def _reserve(conn: Any, table: str, count: int) -> int:
    """The first of ``count`` ids after every existing one; the sequence moves past them."""
    seq = await conn.fetchval("SELECT pg_get_serial_sequence($1, 'id')", table)
    async with conn.transaction():
        # Inserts wait meanwhile, so nobody takes an id from the range in between.
        await conn.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        last = await conn.fetchval(
            f"SELECT greatest((SELECT coalesce(max(id), 0) FROM {table}),"
            f" (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {seq}))"
        )
        first = int(last) + 1
        if first + count > MAX_ID:
            raise InvalidInput(f"{table} ids would pass {MAX_ID:,}.")
        await conn.execute("SELECT setval($1, $2, true)", seq, first + count - 1)
    return first


async def _ensure_genres(conn: Any) -> tuple[dict[str, int], int]:
    created = await conn.fetch(
        "INSERT INTO genres (slug, name) SELECT * FROM unnest($1::text[], $2::text[])"
        " ON CONFLICT (slug) DO NOTHING RETURNING id",
        [g[0] for g in GENRES],
        [g[1] for g in GENRES],
    )
    rows = await conn.fetch(
        "SELECT slug, id FROM genres WHERE slug = ANY($1::text[])", [g[0] for g in GENRES]
    )
    return {r["slug"]: r["id"] for r in rows}, len(created)


def _inserted(status: str) -> int:
    return int(status.split()[-1])  # "INSERT 0 <n>"


async def _all(*work: Coroutine[Any, Any, None]) -> None:
    """Run concurrently; if one fails, cancel the others (their transactions roll back)."""
    tasks = [asyncio.create_task(w) for w in work]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


@dataclass
class _Events:
    albums: asyncio.Event = field(default_factory=asyncio.Event)  # committed
    tracks_copied: asyncio.Event = field(default_factory=asyncio.Event)  # indexes to build
    tracks: asyncio.Event = field(default_factory=asyncio.Event)  # committed


async def _tracks_lane(plan: _Plan, catalog: _Catalog, loader: _Loader, done: _Events) -> None:
    """COPY the tracks (Python is the bottleneck), then build their indexes (the GIN index
    takes one core for about 30 s; the track tables fill meanwhile on the other core)."""
    echo, n = loader.report.echo, catalog.n_tracks
    try:
        if not plan.fk_off:
            await done.albums.wait()
        async with _session(plan, loader.report, "tracks") as conn:
            async with loader.table(conn, "tracks", n):
                rows = _progress(catalog.track_rows(), "tracks", n, echo)
                await conn.copy_records_to_table(
                    "tracks", records=rows, columns=list(catalog.TRACK_COLUMNS)
                )
                done.tracks_copied.set()
            done.tracks.set()
            await conn.execute("ANALYZE tracks")
    finally:
        done.tracks_copied.set()
        done.tracks.set()


async def _parents_lane(plan: _Plan, catalog: _Catalog, loader: _Loader, done: _Events) -> None:
    """Artists and albums: small COPYs from Python."""
    try:
        async with _session(plan, loader.report, "artists_albums") as conn:
            for table, columns, rows, n in (
                ("artists", catalog.ARTIST_COLUMNS, catalog.artist_rows(), catalog.n_artists),
                ("albums", catalog.ALBUM_COLUMNS, catalog.album_rows(), catalog.n_albums),
            ):
                async with loader.table(conn, table, n):
                    await conn.copy_records_to_table(table, records=rows, columns=list(columns))
            await conn.execute("ANALYZE artists, albums, genres")
    finally:
        done.albums.set()


async def _track_tables_lane(
    plan: _Plan, catalog: _Catalog, loader: _Loader, done: _Events
) -> None:
    """The tables SQL fills from id arithmetic: all database work.

    It starts once the tracks are copied, while their indexes build: during the COPY,
    Python and the COPY's backend already keep both cores busy. With foreign keys checked,
    it waits for the tracks to commit. It holds no connection while it waits, so the other
    lanes can have one even from a pool of one.
    """
    await (done.tracks_copied if plan.fk_off else done.tracks).wait()
    async with _session(plan, loader.report, "track_tables") as conn:
        await _fill_track_tables(conn, plan, catalog, loader)
        await conn.execute(f"ANALYZE {', '.join(STRIDES)}")


async def _fill_track_tables(conn: Any, plan: _Plan, catalog: _Catalog, loader: _Loader) -> None:
    t_first, n = plan.ranges["tracks"]
    t_last = t_first + n - 1
    first = plan.ranges.first

    # Credits: the album's artist at position 0, maybe a featured one at 1 (see credits()).
    async with loader.table(conn, "track_artists", n) as load:
        status = await conn.execute(
            "INSERT INTO track_artists (id, track_id, artist_id, position)"
            " SELECT $1 + 2 * (s.id - $2) + v.position, s.id,"
            "   $3 + CASE WHEN v.position = 0 THEN s.main ELSE (s.main + s.feature) % $6 END,"
            "   v.position"
            " FROM (SELECT id, ($4::int[])[1 + (id - $2) * $7 / $8] AS main,"
            "         ($5::int[])[1 + (id & $9)] AS feature"
            "       FROM generate_series($2::bigint, $10::bigint) id) s"
            " CROSS JOIN LATERAL (VALUES (0::smallint),"
            "   (CASE WHEN s.feature > 0 THEN 1::smallint END)) v(position)"
            " WHERE v.position IS NOT NULL",
            first["track_artists"],
            t_first,
            catalog.a_first,
            catalog.album_artist,
            catalog.feature_offsets,
            catalog.n_artists,
            catalog.n_albums,
            n,
            FEATURE_SLOTS - 1,
            t_last,
        )
        load.rows = _inserted(status)

    # Renditions: a per-track random draw for each optional quality.
    draws = ", ".join(f"random() AS r{i}" for i in range(len(RENDITIONS)))
    qualities = ", ".join(
        f"({i}, '{q}', {kbps}, '{fmt}', {'true' if share >= 1 else f's.r{i} < {share}'})"
        for i, (q, kbps, fmt, share) in enumerate(RENDITIONS)
    )
    expected = int(sum(n * r[3] for r in RENDITIONS))
    async with loader.table(conn, "renditions", expected) as load:
        status = await conn.execute(
            "INSERT INTO renditions (id, track_id, quality, bitrate, format, size_bytes, path)"
            f" SELECT $1 + {len(RENDITIONS)} * (s.id - $2) + q.slot, s.id, q.quality, q.kbps,"
            "   q.format, s.duration::bigint * q.kbps / 8,"
            "   'scale/' || s.id % 1000 || '/' || s.id || '/' || lower(q.quality)"
            "   || '.' || q.format"
            f" FROM (SELECT id, ($4::int[])[1 + (id & $5)] AS duration, {draws}"
            "       FROM generate_series($2::bigint, $3::bigint) id) s"
            f" CROSS JOIN LATERAL (VALUES {qualities}) q(slot, quality, kbps, format, present)"
            " WHERE q.present",
            first["renditions"],
            t_first,
            t_last,
            catalog.durations,
            DURATION_SLOTS - 1,
        )
        load.rows = _inserted(status)

    async with loader.table(conn, "licenses", n):
        await conn.execute(
            "INSERT INTO licenses (id, track_id, region, available_from, available_until)"
            " SELECT $1 + (id - $2), id, '*', NULL, NULL"
            " FROM generate_series($2::bigint, $3::bigint) id",
            first["licenses"],
            t_first,
            t_last,
        )

    # Genres: one or two, drawn by weight (pop is common, jazz rare).
    pool = [plan.genre_ids[slug] for slug, _, weight in GENRES for _ in range(weight)]
    async with loader.table(conn, "track_genres", n * 14 // 10) as load:
        status = await conn.execute(
            "INSERT INTO track_genres (id, track_id, genre_id)"
            " SELECT $1 + 2 * (s.id - $2) + v.slot, s.id, v.genre"
            " FROM (SELECT id, ($4::bigint[])[1 + floor(random() * $5)::int] AS g1,"
            "         CASE WHEN random() < 0.45"
            "           THEN ($4::bigint[])[1 + floor(random() * $5)::int] END AS g2"
            "       FROM generate_series($2::bigint, $3::bigint) id) s"
            " CROSS JOIN LATERAL (VALUES (0, s.g1),"
            "   (1, CASE WHEN s.g2 <> s.g1 THEN s.g2 END)) v(slot, genre)"
            " WHERE v.genre IS NOT NULL",
            first["track_genres"],
            t_first,
            t_last,
            pool,
            len(pool),
        )
        load.rows = _inserted(status)


async def _users_lane(plan: _Plan, loader: _Loader) -> None:
    from ncm.accounts.passwords import hash_password

    generator = _Users(plan, await hash_password(BENCH_PASSWORD))
    generator.self_check()
    n = generator.count
    async with _session(plan, loader.report, "users") as conn:
        async with loader.table(conn, "users", n):
            rows = _progress(generator.rows(), "users", n, loader.report.echo)
            await conn.copy_records_to_table("users", records=rows, columns=list(_Users.COLUMNS))
        await conn.execute("ANALYZE users")


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    # Millions of short-lived tuples and no cycles: the cyclic collector only costs time.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def seed_scale(
    *,
    tracks: int,
    users: int,
    echo: Echo = _quiet,
    rebuild_indexes: bool | None = None,
    seed: int | None = None,
) -> dict[str, object]:
    """Add ``tracks`` tracks (with their artists, albums, ...) and ``users`` users.

    ``rebuild_indexes``: drop and rebuild indexes around each table's load; ``None`` decides
    per table (at least 10,000 rows and half the table's size). ``seed`` makes the values
    reproducible (by default it derives from the first new ids). Returns rows per table,
    seconds per phase and rows per second.
    """
    if not is_postgres():
        raise InvalidInput("seed scale needs PostgreSQL")
    if tracks < 0 or users < 0:
        raise InvalidInput("Counts cannot be negative.")
    started = perf_counter()
    cpu_started = time.process_time()
    report = _Report(echo)
    fk_off = await _can_skip_fk_checks()
    ranges = _Ranges()
    counts = {"artists": max(1, tracks // 20), "albums": max(1, tracks // 8), "tracks": tracks}
    genre_ids: dict[str, int] = {}
    genres_created = 0
    async with _acquire() as conn:
        if tracks:
            genre_ids, genres_created = await _ensure_genres(conn)
            for table, count in counts.items():
                ranges.first[table] = await _reserve(conn, table, count)
                ranges.count[table] = count
            for table, stride in STRIDES.items():
                ranges.first[table] = await _reserve(conn, table, stride * tracks)
        if users:
            ranges.first["users"] = await _reserve(conn, "users", users)
            ranges.count["users"] = users
    plan = _Plan(
        tracks=tracks,
        users=users,
        rebuild=rebuild_indexes,
        fk_off=fk_off,
        ranges=ranges,
        genre_ids=genre_ids,
        seed=seed if seed is not None else ranges["tracks"][0] * 7919 + ranges["users"][0],
    )
    loader = _Loader(plan, report)
    echo(
        f"scale seed: {tracks:,} tracks and {users:,} users"
        + ("" if fk_off else " (this role cannot skip foreign key checks: slower)")
    )
    with _no_gc():
        if tracks:
            cpu_catalog = time.process_time()
            async with report.phase("catalog"):
                catalog = _Catalog(plan)
                catalog.self_check()
                report.seconds["catalog_prepare"] = round(perf_counter() - started, 2)
                done = _Events()
                await _all(
                    _tracks_lane(plan, catalog, loader, done),
                    _track_tables_lane(plan, catalog, loader, done),
                    _parents_lane(plan, catalog, loader, done),
                )
            report.cpu["python_catalog"] = round(time.process_time() - cpu_catalog, 2)
            echo(f"catalog: {tracks:,} tracks in {report.seconds['catalog']:.1f}s")
        if users:
            cpu_users = time.process_time()
            async with report.phase("users"):
                await _users_lane(plan, loader)
            report.cpu["python_users"] = round(time.process_time() - cpu_users, 2)
            echo(f"users: {users:,} in {report.seconds['users']:.1f}s")
    total = perf_counter() - started
    rows = sum(report.rows.values())
    result: dict[str, object] = {f"rows_{t}": n for t, n in report.rows.items()}
    result["rows_total"] = rows
    result["genres_created"] = genres_created
    result["first_track_id"] = ranges["tracks"][0] or None
    result["first_user_id"] = ranges["users"][0] or None
    result["user_password"] = BENCH_PASSWORD if users else None
    result["foreign_key_checks"] = "skipped (replica role)" if fk_off else "row by row"
    result.update({f"seconds_{k}": round(v, 2) for k, v in report.seconds.items()})
    result["seconds_total"] = round(total, 2)
    # CPU seconds used (this process; each loading connection's backend when local): on a
    # shared machine they show the work done, whatever the wall time.
    result.update({f"cpu_seconds_{k}": v for k, v in report.cpu.items()})
    result["cpu_seconds_python_total"] = round(time.process_time() - cpu_started, 2)
    result["rows_per_second"] = round(rows / total) if total else 0
    return result
