"""``/stream/...``: audio bytes behind signed URLs (docs/playback.md).

HTTP semantics: ``Accept-Ranges: bytes``, single byte ranges (206 with ``Content-Range``;
416 when unsatisfiable; several ranges are answered as if no Range were sent, which RFC 9110
allows), a strong ``ETag`` and ``Last-Modified`` with ``If-None-Match`` /
``If-Modified-Since`` (304) and ``If-Range``. The body streams from the file in fixed chunks,
so memory stays flat whatever the file size. A preview URL may only read its byte window:
a request outside it is 403, an open-ended one is cut at the window's end.
"""

from __future__ import annotations

import mimetypes
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ncm.config import Settings
from ncm.errors import ErrorCode
from ncm.stream.errors import StreamErrorCode
from ncm.stream.signing import SignatureRefused, verify

CHUNK_BYTES = 256 * 1024
_BYTE_RANGE = re.compile(r"([0-9]*)-([0-9]*)")  # ASCII digits only
AUDIO_TYPES = {
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".ogg": "audio/ogg",
}


class _Ignore(Exception):
    """A Range header to ignore (another unit, several ranges, bad syntax)."""


def _refuse(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(
        {"error": code, "message": message},
        status_code=status,
        headers={"cache-control": "no-store", **(headers or {})},
    )


def parse_range(header: str, size: int) -> tuple[int, int | None]:
    """``(start, end)`` of ``bytes=a-b`` / ``a-`` / ``-n`` (``end`` None when open-ended);
    raises :class:`_Ignore` for what is not one byte range and ValueError when it cannot be
    satisfied."""
    unit, _, spec = header.partition("=")
    match = _BYTE_RANGE.fullmatch(spec.strip())
    if unit.strip().lower() != "bytes" or match is None or not any(match.groups()):
        raise _Ignore  # not one byte range (several, or not numbers): serve the whole file
    first, last = match.groups()
    if not first:  # a suffix: the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            raise ValueError("empty suffix")
        return max(0, size - n), size - 1
    start = int(first)
    end = int(last) if last else None
    if end is not None and end < start:
        raise _Ignore
    if start >= size:
        raise ValueError("starts after the end")
    return start, None if end is None else min(end, size - 1)


def _resolve(root: Path, relative: str) -> Path | None:
    base = root.resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target


def _not_modified(request: Request, etag: str, mtime: float) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        return "*" in tags or etag in tags
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return int(mtime) <= parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError):
            return False
    return False


def _range_applies(request: Request, etag: str, last_modified: str) -> bool:
    if_range = request.headers.get("if-range")
    return if_range is None or if_range.strip() in (etag, last_modified)


async def _chunks(path: Path, start: int, length: int) -> AsyncIterator[bytes]:
    handle = await anyio.to_thread.run_sync(open, path, "rb")
    try:
        await anyio.to_thread.run_sync(handle.seek, start)
        left = length
        while left > 0:
            data = await anyio.to_thread.run_sync(handle.read, min(CHUNK_BYTES, left))
            if not data:
                break
            left -= len(data)
            yield data
    finally:
        await anyio.to_thread.run_sync(handle.close)


def make_endpoint(settings: Settings) -> Callable[[Request], Awaitable[Response]]:
    async def stream(request: Request) -> Response:
        params = request.path_params
        now = time.time()
        try:
            grant = verify(
                params["track_id"],
                params["rendition_id"],
                params["path"],
                request.query_params,
                settings.stream_signing_keys,
                now,
            )
        except SignatureRefused as exc:
            return _refuse(exc.status, exc.code, exc.message)
        path = _resolve(settings.media_root, grant.path)
        if path is None:
            return _refuse(404, ErrorCode.NOT_FOUND, "This audio file is not available.")
        stat = await anyio.to_thread.run_sync(os.stat, path)
        size = stat.st_size
        etag = f'"{size:x}-{stat.st_mtime_ns:x}"'
        last_modified = formatdate(stat.st_mtime, usegmt=True)
        media_type = AUDIO_TYPES.get(path.suffix.lower()) or (
            mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        )
        headers = {
            "accept-ranges": "bytes",
            "etag": etag,
            "last-modified": last_modified,
            # The URL is per user and expires: caches may keep it only as long as it is valid.
            "cache-control": f"private, max-age={max(0, grant.expires - int(now))}",
        }
        if _not_modified(request, etag, stat.st_mtime):
            return Response(status_code=304, headers=headers)
        low, high = 0, size - 1
        limited = grant.byte_range is not None and size > 0
        if grant.byte_range is not None:
            high = min(high, grant.byte_range[1])
            low = min(grant.byte_range[0], high)
        start, end = low, high
        header = request.headers.get("range")
        partial = limited
        if header is not None and _range_applies(request, etag, last_modified):
            try:
                start, asked_end = parse_range(header, size)
                # Open-ended: to the end of the file, or of the preview's window.
                end = asked_end if asked_end is not None else (high if limited else size - 1)
                partial = True
            except _Ignore:
                pass
            except ValueError:
                return _refuse(
                    416,
                    StreamErrorCode.RANGE_NOT_SATISFIABLE,
                    "The range is outside the file.",
                    {"content-range": f"bytes */{size}"},
                )
            if limited and (start < low or end > high):
                return _refuse(
                    403, StreamErrorCode.OUTSIDE_PREVIEW, "A preview may only read its own bytes."
                )
        length = max(0, end - start + 1) if size else 0
        headers["content-length"] = str(length)
        if partial and size:
            headers["content-range"] = f"bytes {start}-{end}/{size}"
        status = 206 if partial and size else 200
        if request.method == "HEAD":
            return Response(status_code=status, headers=headers, media_type=media_type)
        return StreamingResponse(
            _chunks(path, start, length),
            status_code=status,
            headers=headers,
            media_type=media_type,
        )

    return stream


def routes(settings: Settings) -> list[BaseRoute]:
    return [
        Route(
            "/stream/{track_id:int}/{rendition_id:int}/{path:path}",
            make_endpoint(settings),
            methods=["GET", "HEAD"],
        )
    ]
