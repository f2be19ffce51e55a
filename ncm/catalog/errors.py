"""The catalog's error codes (the generic ones are ``ncm.errors.ErrorCode``)."""

from __future__ import annotations

from enum import StrEnum


class CatalogErrorCode(StrEnum):
    UNREADABLE_FILE = "UNREADABLE_FILE"
