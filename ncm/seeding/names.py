"""Names and titles in Chinese, English and Japanese, drawn from the word lists
(:mod:`ncm.seeding.words`) with a mild skew, and their search tokens computed once each."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from itertools import chain

from ncm.search.text import document_tokens
from ncm.seeding.words import (
    EN_BAND_ADJ,
    EN_BAND_NOUNS,
    EN_FIRST,
    EN_JOIN,
    EN_LAST,
    EN_LEAD,
    EN_WORDS,
    JA_BAND_SUFFIX,
    JA_BANDS,
    JA_FAMILY,
    JA_GIVEN,
    JA_JOIN,
    JA_WORDS,
    ZH_BAND_SUFFIX,
    ZH_GIVEN,
    ZH_SURNAMES,
    ZH_WORDS,
)

# Language shares of artists (and so of their albums and tracks), in percent.
LANGUAGE_SHARES = (("zh", 45), ("en", 35), ("ja", 20))


class Tokens:
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


def merge(*token_lists: Iterable[str]) -> str:
    # document_tokens(a, b, ...) tokenizes each part on its own and keeps first occurrences.
    return " ".join(dict.fromkeys(chain(*token_lists)))


class Words:
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


class Names:
    """Titles and names in three languages, from the word lists."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.zh = Words(rng, ZH_WORDS)
        self.en = Words(rng, EN_WORDS)
        self.ja = Words(rng, JA_WORDS)

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
            return "".join(self.zh.pick(2)) + rng.choice(ZH_BAND_SUFFIX)
        return f"The {rng.choice(EN_BAND_ADJ)} {rng.choice(EN_BAND_NOUNS)}"


def pick_language(rng: random.Random) -> str:
    roll = rng.random() * 100
    for language, share in LANGUAGE_SHARES:
        if roll < share:
            return language
        roll -= share
    return LANGUAGE_SHARES[-1][0]


def pareto(rng: random.Random, scale: float, shape: float, cap: int) -> int:
    return min(cap, int(scale * (1.0 - rng.random()) ** (-1.0 / shape)))
