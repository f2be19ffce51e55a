"""Signed stream URLs: HMAC-SHA256 over the path and the grant, verifiable at an edge.

A URL looks like (docs/playback.md describes the scheme for nginx and CDN edges)::

    /stream/<track>/<rendition>/<media path>?u=<user>&e=<expires>&k=<key id>[&r=<a>-<b>]&s=<sig>

``sig`` is the unpadded base64url HMAC-SHA256, under the secret of key ``k``, of everything
before ``&s=`` (the path as written in the URL, a ``?`` and the query). ``r`` limits the bytes
that may be served (a preview). The first key of ``NCM_STREAM_SIGNING_KEYS`` signs; every
listed key verifies, so keys rotate by adding the new one first and dropping the old one after
the URL lifetime.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from ncm.errors import NcmError
from ncm.stream.errors import StreamErrorCode

_SAFE_PATH = re.compile(r"^[A-Za-z0-9._~/-]+$")
_DIGITS = re.compile(r"[0-9]{1,18}")


class SignatureRefused(NcmError):
    """A stream URL that must not be served; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.status = status


@dataclass(frozen=True, slots=True)
class Grant:
    """What a valid URL allows: these bytes (all of them when ``byte_range`` is None) of
    this rendition's file, for this user, until ``expires`` (Unix seconds)."""

    track_id: int
    rendition_id: int
    path: str
    user_id: int
    expires: int
    key_id: str
    byte_range: tuple[int, int] | None = None


def url_path(track_id: int, rendition_id: int, path: str) -> str:
    """The URL path of a rendition's file (the media path percent-encoded if it must be)."""
    encoded = path if _SAFE_PATH.match(path) else quote(path, safe="/")
    return f"/stream/{track_id}/{rendition_id}/{encoded}"


def _message(grant: Grant) -> str:
    text = (
        f"{url_path(grant.track_id, grant.rendition_id, grant.path)}"
        f"?u={grant.user_id}&e={grant.expires}&k={grant.key_id}"
    )
    if grant.byte_range is not None:
        text += f"&r={grant.byte_range[0]}-{grant.byte_range[1]}"
    return text


def _mac(secret: str, message: str) -> str:
    digest = hmac.digest(secret.encode(), message.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(grant: Grant, keys: Mapping[str, str]) -> str:
    """The signed path and query (prefix it with the origin). ``grant.key_id`` must be one of
    ``keys``."""
    message = _message(grant)
    return f"{message}&s={_mac(keys[grant.key_id], message)}"


def signing_key_id(keys: Mapping[str, str]) -> str:
    """The key that signs new URLs: the first one configured."""
    if not keys:
        raise RuntimeError("NCM_STREAM_SIGNING_KEYS is empty")
    return next(iter(keys))


def _int(value: str | None, name: str) -> int:
    if value is None or _DIGITS.fullmatch(value) is None:  # ASCII digits only ('²' is a digit)
        raise SignatureRefused(
            400, StreamErrorCode.MALFORMED_URL, f"The stream URL's {name} is malformed."
        )
    return int(value)


def verify(
    track_id: int,
    rendition_id: int,
    path: str,
    query: Mapping[str, str],
    keys: Mapping[str, str],
    now: float,
) -> Grant:
    """The grant of a URL, or :class:`SignatureRefused`: 400 malformed, 403 an unknown key id or
    a signature that does not match (tampering), 410 expired. The signature is checked before
    the expiry, so a forged URL learns nothing about lifetimes."""
    key_id = query.get("k")
    signature = query.get("s")
    if not key_id or not signature:
        raise SignatureRefused(400, StreamErrorCode.MALFORMED_URL, "The stream URL is not signed.")
    byte_range = None
    raw_range = query.get("r")
    if raw_range is not None:
        first, sep, last = raw_range.partition("-")
        start, end = _int(first, "range"), _int(last if sep else None, "range")
        if end < start:
            raise SignatureRefused(
                400, StreamErrorCode.MALFORMED_URL, "The stream URL's range is malformed."
            )
        byte_range = (start, end)
    grant = Grant(
        track_id,
        rendition_id,
        path,
        _int(query.get("u"), "user"),
        _int(query.get("e"), "expiry"),
        key_id,
        byte_range,
    )
    secret = keys.get(key_id)
    if secret is None:  # a retired key (key ids are not secret; which one failed helps ops)
        raise SignatureRefused(
            403, StreamErrorCode.UNKNOWN_KEY, "The stream URL's signing key is not valid."
        )
    if not signature.isascii() or not hmac.compare_digest(_mac(secret, _message(grant)), signature):
        raise SignatureRefused(
            403, StreamErrorCode.SIGNATURE_INVALID, "The stream URL's signature is invalid."
        )
    if grant.expires <= now:
        raise SignatureRefused(
            410, StreamErrorCode.URL_EXPIRED, "The stream URL has expired; ask for a new one."
        )
    return grant
