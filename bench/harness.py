"""What the benchmark commands share: servers, the load generator process, reports."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import loadgen

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1/ncm_bench"
# "auto": claim an empty Redis database the way test runs do (tests/conftest.py), so a test
# run started meanwhile does not flush it, and flush it afterwards.
DEFAULT_REDIS_URL = "auto"
REDIS_CLAIM_KEY = "ncm:test:owner"
HOST = "127.0.0.1"
NCM_PORT = 8801
PLAIN_PORT = 8802
console = Console(width=None if sys.stdout.isatty() else 150)


def asyncpg_dsn(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


@dataclass
class Pinning:
    """Which cores the servers and the load generator run on (taskset), if any."""

    server: str | None
    client: str | None

    @classmethod
    def choose(cls, workers: int, enabled: bool) -> Pinning:
        cores = os.cpu_count() or 1
        if not enabled or shutil.which("taskset") is None or cores < 2 or workers >= cores:
            return cls(None, None)
        return cls(",".join(str(c) for c in range(workers)), str(cores - 1))

    def describe(self) -> str:
        if self.server is None:
            return "no pinning (servers, load generator and PostgreSQL share every core)"
        return (
            f"server on core {self.server}, load generator on core {self.client}"
            " (taskset); PostgreSQL is not pinned and runs wherever there is room"
        )

    def prefix(self, cores: str | None) -> list[str]:
        return ["taskset", "-c", cores] if cores is not None else []


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # uvicorn shuts down gracefully on SIGTERM
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


async def recreate_database(name: str) -> None:
    """Drop (if there) and create the bench database ``name`` (``ncm_bench_*`` only)."""
    import asyncpg

    if not name.startswith("ncm_bench"):
        raise SystemExit(f"only databases named ncm_bench* are recreated, not {name}")
    conn = await asyncpg.connect(f"postgresql://postgres@{HOST}:5432/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _wait_ready(server: Server, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://{HOST}:{server.port}{path}"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited ({server.process.returncode}):\n{server.tail()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} not ready after {timeout:.0f}s:\n{server.tail()}")


def _start(name: str, command: list[str], env: dict[str, str], port: int, ready: str) -> Server:
    log = Path(tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".log")[1])
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = Server(name, port, process, log)
    try:
        _wait_ready(server, ready)
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def redis_database(url: str | None) -> Iterator[str | None]:
    """The NCM_REDIS_URL for the server: ``url`` as given ('' or None: no Redis), or with
    ``auto`` an empty database in 1-15 claimed for the run, flushed when it ends."""
    if url != "auto":
        yield url or None
        return
    import redis

    claimed = None
    for db in range(1, 16):
        client = redis.Redis(host=HOST, port=6379, db=db)
        try:
            if client.set(REDIS_CLAIM_KEY, f"bench:{os.getpid()}", nx=True, ex=3600):
                if client.dbsize() == 1:
                    claimed = db
                    break
                client.delete(REDIS_CLAIM_KEY)  # someone's data: not ours to flush later
        finally:
            client.close()
    if claimed is None:
        raise RuntimeError("no empty Redis database to claim in 1-15 (pass --redis-url)")
    try:
        yield f"redis://{HOST}:6379/{claimed}"
    finally:
        client = redis.Redis(host=HOST, port=6379, db=claimed)
        try:
            client.flushdb()  # the server's keys and the claim
        finally:
            client.close()


def server_env(database_url: str, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NCM_")}
    env.update(
        NCM_DATABASE_URL=database_url,
        NCM_LOG_LEVEL="WARNING",
        NCM_LOG_JSON="0",
        BENCH_DATABASE_URL=asyncpg_dsn(database_url),
        PYTHONDONTWRITEBYTECODE="1",
    )
    if redis_url:
        env["NCM_REDIS_URL"] = redis_url
    return env


def start_ncm(
    database_url: str,
    redis_url: str | None,
    workers: int,
    pinning: Pinning,
    settings: dict[str, str] | None = None,
) -> Server:
    """The real application: ``ncm serve`` (uvicorn, uvloop + httptools); ``settings`` are
    more ``NCM_*`` variables for it (the server sees no other ``NCM_*`` of ours)."""
    command = [
        *pinning.prefix(pinning.server),
        sys.executable,
        "-m",
        "ncm.cli",
        "serve",
        "--host",
        HOST,
        "--port",
        str(NCM_PORT),
        "--workers",
        str(workers),
    ]
    env = server_env(database_url, redis_url) | (settings or {})
    return _start("ncm", command, env, NCM_PORT, "/readyz")


def start_plain(database_url: str, pinning: Pinning, workers: int = 1) -> Server:
    command = [
        *pinning.prefix(pinning.server),
        sys.executable,
        "-m",
        "uvicorn",
        "bench.plain_app:app",
        "--host",
        HOST,
        "--port",
        str(PLAIN_PORT),
        *(["--workers", str(workers)] if workers > 1 else []),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return _start("plain", command, server_env(database_url, None), PLAIN_PORT, "/healthz")


@contextlib.contextmanager
def running(*starters: Any) -> Iterator[list[Server]]:
    """Start servers (callables returning a Server); stop every one of them on the way out."""
    servers: list[Server] = []
    try:
        for start in starters:
            servers.append(start())
        yield servers
    finally:
        for server in servers:
            server.stop()
            with contextlib.suppress(OSError):
                server.log.unlink()


def post_json(port: int, body: dict[str, Any], path: str = "/graphql") -> Any:
    request = urllib.request.Request(
        f"http://{HOST}:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def graphql_requests(port: int, bodies: Sequence[dict[str, Any]]) -> list[bytes]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    return [
        loadgen.http_post(HOST, port, "/graphql", json.dumps(b).encode(), headers) for b in bodies
    ]


def drive(
    port: int,
    requests: list[bytes],
    *,
    connections: int,
    duration: float,
    warmup: float,
    pinning: Pinning,
    max_requests: int = loadgen.MAX_REQUESTS,
    error_marker: bytes | None = b'"errors"',
) -> loadgen.Result:
    """Run the load generator in its own process (pinned) and return its measurements."""
    job = loadgen.Job(
        host=HOST,
        port=port,
        requests=requests,
        connections=connections,
        duration=duration,
        warmup=warmup,
        max_requests=max_requests,
        error_marker=error_marker,
    )
    command = [*pinning.prefix(pinning.client), sys.executable, "-m", "bench.loadgen"]
    done = subprocess.run(
        command,
        cwd=ROOT,
        input=loadgen.job_to_json(job).encode(),
        capture_output=True,
        timeout=warmup + duration + 120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr.decode(errors='replace')}")
    return loadgen.Result(**json.loads(done.stdout))


@dataclass
class Report:
    command: str
    config: dict[str, Any]
    machine: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def save(self) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS / f"{self.command}-{stamp}.json"
        path.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False, default=str))
        return path


def machine_info(database_url: str | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        info["git"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    if database_url:
        # In a thread: callers may already be inside an event loop.
        with contextlib.suppress(Exception), ThreadPoolExecutor(1) as pool:
            info["postgres"] = pool.submit(asyncio.run, _pg_version(database_url)).result()
    return info


async def _pg_version(database_url: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def busy_warning() -> str | None:
    one_minute = os.getloadavg()[0]
    if one_minute > 0.7:
        return (
            f"load average {one_minute:.2f} before starting: other processes are using the"
            " CPU, so these figures are lower and noisier than on an idle machine"
        )
    return None


def load_table(title: str, rows: dict[str, loadgen.Result]) -> Table:
    table = Table(title=title)
    for column in (
        "target",
        "conns",
        "requests",
        "req/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "errors",
    ):
        table.add_column(column, justify="left" if column == "target" else "right")
    for name, r in rows.items():
        table.add_row(
            name,
            str(r.connections),
            f"{r.requests:,}",
            f"{r.rps:,.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p90_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{r.max_ms:.1f}",
            str(r.errors),
        )
    return table


def verdict(ok: bool) -> str:
    return "[green]met[/green]" if ok else "[red]missed[/red]"


def py_spy() -> str | None:
    """The ``py-spy`` binary on the PATH or beside this interpreter (it is not a project
    dependency: ``pip install py-spy`` to profile)."""
    return shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))


@contextlib.contextmanager
def sampling(pid: int, output: Path, seconds: float, pinning: Pinning) -> Iterator[None]:
    """``py-spy record`` of process ``pid`` (and its children) for ``seconds`` while the
    block runs, on the load generator's core, written as raw collapsed stacks to ``output``."""
    binary = py_spy()
    if binary is None:
        raise SystemExit("py-spy is missing: pip install py-spy (not a project dependency)")
    spy = subprocess.Popen(
        [
            *pinning.prefix(pinning.client),
            binary,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--duration",
            str(max(1, int(seconds))),
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        spy.wait(timeout=seconds + 60)
