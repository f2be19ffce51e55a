"""Search text that works the same for Chinese, Japanese, Korean and Latin scripts.

Documents and queries go through one tokenizer and are stored as space-separated tokens
(``search_text``). PostgreSQL keeps ``search_vector = to_tsvector('simple', search_text)``
as a stored column with a GIN index; SQLite indexes ``search_text`` with FTS5:

* Latin (and other space-delimited) words are lower-cased, accents folded (NFKD); a query's
  words match as prefixes, so ``taylo`` finds ``Taylor``.
* Traditional Chinese is folded to simplified (OpenCC's ``t2s`` tables, shipped by the
  ``opencc`` package), and NFKC folds full-width and half-width forms, so ``周杰倫`` and
  full-width ``ABC`` find ``周杰伦`` and ``abc``.
* Runs of CJK characters have no spaces, so each run becomes its single characters and its
  adjacent pairs (bigrams). A one-character query matches the character, a longer one
  matches all of its bigrams, so ``晴天`` finds ``晴天娃娃`` and not ``天晴``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc

_CJK = (
    r"\u3040-\u30ff"  # Hiragana, Katakana
    r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    r"\uac00-\ud7af"  # Hangul syllables
    r"\u31f0-\u31ff\uff66-\uff9f"  # Katakana extensions, half-width
)
_RUN = re.compile(rf"([{_CJK}]+)|([^\W{_CJK}]+)")
MAX_QUERY_TOKENS = 12


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_T2S = opencc.OpenCC("t2s")
_S2T = opencc.OpenCC("s2t")


@lru_cache(maxsize=65536)
def simplified(text: str) -> str:
    """Traditional Chinese characters as simplified ones (anything else unchanged)."""
    return _T2S.convert(text) if _HAN.search(text) else text


def _fold(text: str) -> str:
    text = simplified(unicodedata.normalize("NFKC", text).lower())
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def name_key(query: str) -> str:
    """``query`` as typed, compared as names are: NFKC, lower case, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", query).lower().split())


def name_keys(query: str) -> list[str]:
    """The spellings of a whole name that count as an exact match of ``query``, compared
    with the database's ``lower(normalize(name, NFKC))``: as typed, simplified and
    traditional (a name stored in either script matches a query in the other)."""
    key = name_key(query)
    if not _HAN.search(key):
        return [key]
    return list(dict.fromkeys([key, _T2S.convert(key), _S2T.convert(key)]))


def like_prefix(key: str) -> str:
    """A LIKE pattern for names that start with ``key`` (its own % and _ escaped)."""
    return key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _cjk_tokens(run: str) -> list[str]:
    return list(run) + [run[i : i + 2] for i in range(len(run) - 1)]


def document_tokens(*parts: str | None) -> str:
    """The ``search_text`` of a row made of these strings (title, names, ...)."""
    seen: dict[str, None] = {}
    for part in parts:
        if not part:
            continue
        for cjk, word in _RUN.findall(_fold(part)):
            for token in _cjk_tokens(cjk) if cjk else [word]:
                seen.setdefault(token, None)
    return " ".join(seen)


def query_terms(query: str) -> list[tuple[str, bool]]:
    """The query as ``(token, is_prefix)`` pairs that must all match, at most a dozen."""
    terms: dict[str, bool] = {}
    for cjk, word in _RUN.findall(_fold(query)):
        if cjk:
            tokens = [cjk] if len(cjk) == 1 else [cjk[i : i + 2] for i in range(len(cjk) - 1)]
            for token in tokens:
                terms.setdefault(token, False)
        elif word:
            terms[word] = True
    return list(terms.items())[:MAX_QUERY_TOKENS]


def pg_tsquery(terms: list[tuple[str, bool]]) -> str:
    """A ``to_tsquery('simple', ...)`` string; tokens hold only word characters."""
    return " & ".join(f"{t}:*" if prefix else t for t, prefix in terms)


def fts5_query(terms: list[tuple[str, bool]]) -> str:
    """An FTS5 MATCH expression: quoted tokens, ``*`` for prefixes."""
    return " AND ".join(f'"{t}"*' if prefix else f'"{t}"' for t, prefix in terms)
