"""The word lists the scale seed builds names and titles from, read from the data files in
``ncm/seeding/words/`` (shipped with the package): whitespace-separated words, ``#`` comments.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def lines(name: str) -> tuple[str, ...]:
    """The non-blank, non-comment lines of ``words/<name>``."""
    text = files("ncm.seeding").joinpath("words").joinpath(name).read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line.strip() and not line.startswith("#"))


def words(name: str) -> list[str]:
    """The words of ``words/<name>.txt``, in file order (a repeated word weighs more)."""
    return [word for line in lines(f"{name}.txt") for word in line.split()]


def _genres() -> list[tuple[str, str, int]]:
    found = []
    for line in lines("genres.tsv"):
        slug, name, weight = line.split("\t")
        found.append((slug, name, int(weight)))
    return found


# slug, name, weight (how often it is a track's genre).
GENRES = _genres()

# Titles: two-character Chinese words, English words, Japanese words.
ZH_WORDS = words("zh_titles")
EN_WORDS = words("en_titles")
JA_WORDS = words("ja_titles")
# Names of people and bands.
ZH_SURNAMES = words("zh_surnames")
ZH_GIVEN = words("zh_given")
EN_FIRST = words("en_first")
EN_LAST = words("en_last")
EN_BAND_NOUNS = words("en_band_nouns")
EN_BAND_ADJ = words("en_band_adjectives")
JA_FAMILY = words("ja_family")
JA_GIVEN = words("ja_given")
JA_BANDS = words("ja_bands")
# User handles: adjective + noun + id.
HANDLE_ADJ = words("handle_adjectives")
HANDLE_NOUN = words("handle_nouns")
# Comment bodies, one a line.
COMMENT_BODIES = list(lines("comments.txt"))

# The grammar that joins words (part of the generator, not a list to grow).
EN_LEAD = ["The", "My", "Your", "Our", "Little", "Hello"]
EN_JOIN = ["of", "and", "in", "on", "from", "with", "for"]
JA_JOIN = ["の", "と", "に", "を", "が", ""]
JA_BAND_SUFFIX = ["", "バンド", "ズ", "楽団", "少女", "少年"]
ZH_BAND_SUFFIX = ["乐队", "乐团", "组合", ""]
