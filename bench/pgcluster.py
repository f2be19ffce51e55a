"""A throwaway PostgreSQL primary with a streaming standby (and PgBouncer) in a temp folder.

PostgreSQL's own ``initdb``, ``pg_basebackup -R`` and ``pg_ctl`` (from ``pg_config
--bindir``, or /usr/lib/postgresql/15/bin) on free ports of 127.0.0.1; nothing touches the
machine's own cluster. ``initdb`` refuses to run as root: as root the servers run as the
``postgres`` system user. Used by the replica tests and ``python -m bench.pgcluster``::

    python -m bench.pgcluster up /tmp/ncm-pair     # prints the two URLs, leaves them running
    python -m bench.pgcluster down /tmp/ncm-pair
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN_DEFAULT = "/usr/lib/postgresql/15/bin"
PGBOUNCER = "/usr/sbin/pgbouncer"

SERVER_SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{dir}'
max_connections = 100
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = replica
max_wal_senders = 4
hot_standby = on
hot_standby_feedback = on
wal_receiver_status_interval = 1s
logging_collector = off
"""


def pg_bin() -> Path:
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    return Path(PG_BIN_DEFAULT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_owner() -> list[str]:
    """The command prefix that runs PostgreSQL's tools as a non-root user."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


def _run(*args: str | Path) -> None:
    subprocess.run([*_as_owner(), *map(str, args)], check=True, capture_output=True, text=True)


@dataclass
class Server:
    data: Path
    port: int

    def url(self, database: str = "postgres", **query: str) -> str:
        q = "&".join(f"{k}={v}" for k, v in query.items())
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}" + (f"?{q}" if q else "")

    def start(self) -> None:
        _run(pg_bin() / "pg_ctl", "-D", self.data, "-l", self.data / "server.log", "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        _run(pg_bin() / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@dataclass
class Pair:
    """A primary and its streaming standby (and, once started, a PgBouncer)."""

    root: Path
    primary: Server
    standby: Server
    bouncer_port: int | None = None
    _bouncer: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start_pgbouncer(self, pool_size: int = 4) -> int:
        """PgBouncer in transaction mode in front of the primary; returns its port."""
        ensure_pgbouncer()
        port = free_port()
        folder = self.root / "pgbouncer"
        folder.mkdir(exist_ok=True)
        ini = folder / "pgbouncer.ini"
        ini.write_text(
            pgbouncer_ini(self.primary.port, port, folder, pool_size=pool_size), encoding="utf-8"
        )
        (folder / "userlist.txt").write_text('"postgres" ""\n', encoding="utf-8")
        _chown(folder)
        self._bouncer = subprocess.Popen(
            [*_as_owner(), PGBOUNCER, str(ini)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # it writes its own logfile
        )
        _wait_port(port)
        self.bouncer_port = port
        return port

    def stop_pgbouncer(self) -> None:
        if self._bouncer is not None:
            self._bouncer.terminate()
            self._bouncer.wait(10)
            self._bouncer = None

    def remove(self) -> None:
        self.stop_pgbouncer()
        for server in (self.standby, self.primary):
            if server.running():
                with contextlib.suppress(subprocess.CalledProcessError):
                    server.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def pgbouncer_ini(server_port: int, port: int, folder: Path, pool_size: int = 4) -> str:
    """The settings ncm runs behind (docs/scaling.md, "Replica and pooling")."""
    return f"""[databases]
* = host=127.0.0.1 port={server_port} connect_query='SET jit = off; SET max_parallel_workers_per_gather = 0'

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/userlist.txt
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 500
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = {folder}/pgbouncer.log
pidfile = {folder}/pgbouncer.pid
"""


def ensure_pgbouncer() -> None:
    """``scripts/ensure-debian-package.sh`` installs the Debian package when it is missing."""
    if Path(PGBOUNCER).exists():
        return
    script = Path(__file__).resolve().parent.parent / "scripts" / "ensure-debian-package.sh"
    subprocess.run(
        ["bash", str(script), "pgbouncer", PGBOUNCER, "the connection-pooling test"], check=True
    )


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for p in [path, *path.rglob("*")]:
            os.chown(p, user.pw_uid, user.pw_gid)


def _wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


def create_pair(root: Path | None = None) -> Pair:
    """initdb a primary, start it, ``pg_basebackup -R`` a standby from it, start that."""
    root = Path(root or tempfile.mkdtemp(prefix="ncm-pg-pair-"))
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    _chown(root)
    primary = Server(root / "primary", free_port())
    standby = Server(root / "standby", free_port())
    pair = Pair(root, primary, standby)
    try:
        bindir = pg_bin()
        _run(
            bindir / "initdb",
            "-D",
            primary.data,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        with open(primary.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(SERVER_SETTINGS.format(port=primary.port, dir=root))
        primary.start()
        _run(
            bindir / "pg_basebackup",
            "-D",
            standby.data,
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "postgres",
            "-R",
            "-X",
            "stream",
            "--no-sync",
        )
        with open(standby.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"\nport = {standby.port}\n")
        standby.start()
    except BaseException:
        pair.remove()
        raise
    return pair


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in {"up", "down"}:
        sys.exit("usage: python -m bench.pgcluster up|down FOLDER")
    root = Path(argv[1])
    if argv[0] == "up":
        pair = create_pair(root)
        print(f"primary {pair.primary.url()}\nstandby {pair.standby.url()}")
        return
    for name in ("standby", "primary"):
        server = Server(root / name, 0)
        if server.running():
            server.stop("immediate")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
