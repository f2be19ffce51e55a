"""Persisted queries: the client sends the SHA-256 of a document instead of its text.

The protocol is Apollo's "automatic persisted queries", which Apollo Client, urql and Relay
speak: ``extensions: {"persistedQuery": {"version": 1, "sha256Hash": "<64 hex>"}}``, by POST
or by GET (``?extensions=...&variables=...&operationName=...``). A hash this process does
not know answers ``PERSISTED_QUERY_NOT_FOUND``; the client sends the hash again with the
``query`` text, which is stored once its hash checks out. A GET with a hash is a short URL
an HTTP cache can keep (``ncm.schema.view``: ``Cache-Control``, ``ETag``, 304).

Documents are kept per process in a bounded LRU: a client that registers junk only evicts
the oldest documents, and any evicted document is registered again on its next use.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from graphql import GraphQLError

from ncm.kit.lru import LRU

NOT_FOUND = "PersistedQueryNotFound"
NOT_FOUND_CODE = "PERSISTED_QUERY_NOT_FOUND"
_HASH = re.compile(r"[0-9a-f]{64}")
# Documents longer than this are not stored (the guard's cache has the same bound).
MAX_STORED_CHARS = 64 * 1024


class BadPersistedQuery(ValueError):
    """The ``persistedQuery`` extension is malformed or its hash does not match the text."""


def sha256_hex(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def requested_hash(extensions: Any) -> str | None:
    """The document hash a request names, or ``None`` when it names none."""
    if not isinstance(extensions, dict) or "persistedQuery" not in extensions:
        return None
    persisted = extensions["persistedQuery"]
    if not isinstance(persisted, dict) or persisted.get("version", 1) != 1:
        raise BadPersistedQuery("`extensions.persistedQuery` must be {version: 1, sha256Hash}.")
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not _HASH.fullmatch(digest):
        raise BadPersistedQuery("`persistedQuery.sha256Hash` must be 64 lowercase hex digits.")
    return digest


class PersistedQueries:
    """Document texts by their SHA-256, the most recently used ``size`` of them."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._texts: LRU[str, str] = LRU(size)

    def resolve(self, digest: str, query: str | None) -> str | None:
        """The text to run: ``query`` once its hash is checked (and stored), else the stored
        text of ``digest`` (``None`` when unknown)."""
        if query is None:
            text: str | None = self._texts.get(digest)  # now the most recently used
            return text
        if sha256_hex(query) != digest:
            raise BadPersistedQuery("`persistedQuery.sha256Hash` is not the SHA-256 of `query`.")
        if len(query) <= MAX_STORED_CHARS:
            self._texts.put(digest, query)
        return query


def not_found_error() -> GraphQLError:
    return GraphQLError(NOT_FOUND, extensions={"code": NOT_FOUND_CODE})
