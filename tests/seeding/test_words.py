"""The word lists behind the scale seed are data files shipped with the package."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from ncm.catalog.importer.validation import GENRE_SLUG_RE
from ncm.search.text import document_tokens
from ncm.seeding import words

ROOT = Path(__file__).resolve().parents[2]


def test_every_word_list_is_read_from_its_file() -> None:
    folder = Path(words.__file__).parent / "words"
    names = {p.name for p in folder.iterdir()}
    assert {"zh_titles.txt", "en_titles.txt", "ja_titles.txt", "genres.tsv"} <= names
    assert len(words.ZH_WORDS) > 300 and len(words.EN_WORDS) > 300 and len(words.JA_WORDS) > 50
    assert words.COMMENT_BODIES and all(b.strip() == b for b in words.COMMENT_BODIES)
    for name in names - {"genres.tsv", "comments.txt"}:
        assert words.words(name.removesuffix(".txt")), name


def test_title_words_are_searchable_without_repeats() -> None:
    for word_list in (words.ZH_WORDS, words.EN_WORDS):
        assert len(set(word_list)) == len(word_list)
    for word in words.ZH_WORDS:
        assert re.fullmatch(r"[\u4e00-\u9fff]{2}", word), word
        assert word in document_tokens(word).split()  # a search for the word finds it


def test_genres_have_slugs_names_and_weights() -> None:
    assert len(words.GENRES) == len({slug for slug, _, _ in words.GENRES}) >= 10
    for slug, name, weight in words.GENRES:
        assert GENRE_SLUG_RE.match(slug) and name and weight > 0


def test_the_word_files_are_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["ncm.seeding"]
    folder = Path(words.__file__).parent
    shipped = {p for pattern in patterns for p in folder.glob(pattern)}
    assert shipped == set((folder / "words").iterdir())
