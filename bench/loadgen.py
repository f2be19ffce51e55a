"""A small closed-loop HTTP/1.1 load generator (asyncio, keep-alive, one process).

Each of ``connections`` connections sends a request, reads the whole response and sends the
next one, for ``duration`` seconds (after ``warmup`` seconds that are not recorded) or until
``max_requests`` responses, whichever comes first. Requests are prepared bytes picked at
random from a list, so the client spends its time on the socket, not on building JSON.

It only talks to the loopback interface. Run it in its own process (``python -m
bench.loadgen`` reads a JSON job on stdin and prints a JSON result), pinned to a core the
server does not use: on two cores, one serves and one generates load.

Measured on this kind of machine, one core of it sustains well above 5,000 requests/s
against a trivial endpoint (``python -m bench calibrate``), so it is not the bottleneck at
the 600-2,000 requests/s the benchmarks here reach.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_REQUESTS = 5_000_000
MAX_DURATION = 600.0


@dataclass
class Job:
    host: str
    port: int
    requests: list[bytes]  # complete HTTP/1.1 requests (keep-alive)
    connections: int = 16
    duration: float = 20.0
    warmup: float = 3.0
    max_requests: int = MAX_REQUESTS
    error_marker: bytes | None = b'"errors"'  # a 200 whose body contains it is an error
    seed: int = 1


@dataclass
class Result:
    requests: int = 0
    errors: int = 0  # non-2xx, error marker in the body, or a broken connection
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    p999_ms: float = 0.0
    max_ms: float = 0.0
    mean_ms: float = 0.0
    bytes_received: int = 0
    connections: int = 0
    first_error: str | None = None
    statuses: dict[str, int] = field(default_factory=dict)


def http_post(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Connection: keep-alive",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def http_get(host: str, port: int, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: keep-alive\r\n\r\n".encode()


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


class _Stop(Exception):
    pass


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = -1
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if length >= 0:
        return status, await reader.readexactly(length)
    if not chunked:
        raise ConnectionError("response without Content-Length (unsupported)")
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return status, b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def run(job: Job) -> Result:
    if job.host not in LOOPBACK:
        raise ValueError(f"the load generator only targets the loopback interface, not {job.host}")
    duration = min(max(job.duration, 0.1), MAX_DURATION)
    max_requests = min(job.max_requests, MAX_REQUESTS)
    rng = random.Random(job.seed)
    requests = job.requests
    marker = job.error_marker
    latencies: list[float] = []
    result = Result(connections=job.connections)
    statuses: dict[int, int] = {}
    loop = asyncio.get_running_loop()
    start = loop.time()
    record_from = start + job.warmup
    stop_at = record_from + duration
    recorded = 0

    async def worker() -> None:
        nonlocal recorded
        reader, writer = await asyncio.open_connection(job.host, job.port)
        clock = time.perf_counter
        try:
            while True:
                now = loop.time()
                if now >= stop_at or recorded >= max_requests:
                    return
                request = requests[int(rng.random() * len(requests))]
                t0 = clock()
                writer.write(request)
                try:
                    status, body = await _read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
                    if now >= record_from:
                        result.errors += 1
                        result.first_error = result.first_error or repr(exc)
                    writer.close()
                    reader, writer = await asyncio.open_connection(job.host, job.port)
                    continue
                elapsed = clock() - t0
                if now < record_from:
                    continue
                recorded += 1
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1
                result.bytes_received += len(body)
                if status >= 300 or (marker is not None and marker in body):
                    result.errors += 1
                    if result.first_error is None:
                        result.first_error = f"{status}: {body[:300]!r}"
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(job.connections)))
    seconds = min(loop.time(), stop_at) - record_from
    latencies.sort()
    ms = [v * 1000 for v in latencies]
    result.requests = len(ms)
    result.seconds = round(seconds, 3)
    result.rps = round(len(ms) / seconds, 1) if seconds > 0 else 0.0
    result.p50_ms = round(percentile(ms, 0.50), 2)
    result.p90_ms = round(percentile(ms, 0.90), 2)
    result.p99_ms = round(percentile(ms, 0.99), 2)
    result.p999_ms = round(percentile(ms, 0.999), 2)
    result.max_ms = round(ms[-1], 2) if ms else 0.0
    result.mean_ms = round(sum(ms) / len(ms), 2) if ms else 0.0
    result.statuses = {str(k): v for k, v in sorted(statuses.items())}
    return result


def _job_from_json(data: dict[str, Any]) -> Job:
    data = dict(data)
    data["requests"] = [r.encode("latin-1") for r in data["requests"]]
    marker = data.get("error_marker")
    data["error_marker"] = marker.encode() if marker is not None else None
    return Job(**data)


def job_to_json(job: Job) -> str:
    data = asdict(job)
    data["requests"] = [r.decode("latin-1") for r in job.requests]
    data["error_marker"] = job.error_marker.decode() if job.error_marker is not None else None
    return json.dumps(data)


def main() -> None:
    job = _job_from_json(json.loads(sys.stdin.read()))
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # plain asyncio is fast enough, uvloop a little faster
        pass
    result = asyncio.run(run(job))
    json.dump(asdict(result), sys.stdout)


if __name__ == "__main__":
    main()
