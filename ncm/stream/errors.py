"""Streaming's error codes: stream URLs refused by the byte server (``stream/http.py``)
and plays (the generic ones are ``ncm.errors.ErrorCode``)."""

from __future__ import annotations

from enum import StrEnum


class StreamErrorCode(StrEnum):
    PLAY_ID_TAKEN = "PLAY_ID_TAKEN"
    MALFORMED_URL = "MALFORMED_URL"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    URL_EXPIRED = "URL_EXPIRED"
    OUTSIDE_PREVIEW = "OUTSIDE_PREVIEW"
    RANGE_NOT_SATISFIABLE = "RANGE_NOT_SATISFIABLE"
