"""Private PostgreSQL clusters and Redis servers for the fault tests: started on free ports in
temporary directories, owned by the test that kills, stops and restarts them, never the
machine's shared services. Registered in the root conftest's `pytest_plugins`.

Without `initdb` or `redis-server` on the machine a fault test skips with the reason; under CI
(`CI` set) it fails instead, as every test that needs a missing service does.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DB = "tg_template"


def service_missing(reason: str) -> None:
    """Skip the test, or fail it under CI, where nothing that needs a service may skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the fault tests)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


# --- Redis ----------------------------------------------------------------------------------


@dataclass
class PrivateRedis:
    """One redis-server without persistence: a kill loses everything, as a crash would."""

    port: int
    process: subprocess.Popen | None = None
    socket_path: Path | None = None  # also listen on this Unix socket

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def socket_url(self) -> str:
        assert self.socket_path is not None, "started without a Unix socket"
        return f"unix://{self.socket_path}?db=0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--maxclients",
                "2000",
                *(
                    ()
                    if self.socket_path is None
                    else ("--unixsocket", str(self.socket_path), "--unixsocketperm", "700")
                ),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(self._answers, timeout=10, what=f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.process.returncode}")
        try:
            with contextlib.closing(self.client()) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: the server and all it held are gone at once."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def restart(self, *, down_for: float = 0.0) -> None:
        self.kill()
        time.sleep(down_for)
        self.start()

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5, socket_connect_timeout=2)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A private redis-server on a free port and on a Unix socket (`socket_url`)."""
    if shutil.which("redis-server") is None:
        service_missing("redis-server is not installed")
    # A short directory: a Unix socket's path is limited to about 100 bytes.
    socket_dir = Path(tempfile.mkdtemp(prefix="tg-redis-"))
    server = PrivateRedis(port=free_port(), socket_path=socket_dir / "redis.sock")
    server.start()
    try:
        yield server
    finally:
        server.kill()
        shutil.rmtree(socket_dir, ignore_errors=True)


# --- PostgreSQL -------------------------------------------------------------------------------


def _postgres_bin() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(candidate, "initdb")):
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of its own (trust auth, no fsync: it survives a killed server, not a
    lost machine).
    initdb refuses to run as root, so as root it runs as the `postgres` user."""

    bin_dir: Path
    base: Path
    port: int
    run_as: str | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.base / "postgres.log"

    @property
    def data(self) -> Path:
        return self.base / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if done.returncode:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stderr or done.stdout}\n{log[-2000:]}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        # fsync off is safe against a killed server (the OS keeps what was written), which is
        # the crash these tests make; synchronous_commit stays on, or a commit could be lost.
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-o", options, "start")

    def stop(self, *, mode: str = "immediate") -> None:
        """`immediate`: every backend is killed, as when the server crashes or the host goes."""
        with contextlib.suppress(RuntimeError):
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def execute(self, sql: str, *, database: str = "postgres") -> None:
        with psycopg.connect(self.url(database).replace("postgres://", "postgresql://")) as conn:
            conn.autocommit = True
            conn.execute(sql)

    def query(self, sql: str, params=(), *, database: str = "postgres") -> list[tuple]:
        with psycopg.connect(self.url(database).replace("postgres://", "postgresql://")) as conn:
            return conn.execute(sql, params).fetchall()

    def create_database(self, name: str) -> str:
        """A fresh database, migrated (a copy of the template migrated once per cluster)."""
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
        return self.url(name)

    def migrate_template(self) -> None:
        self.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "DATABASE_URL": self.url(TEMPLATE_DB),
        }
        env.pop("REDIS_URL", None)
        done = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if done.returncode:
            raise RuntimeError(f"migrate failed: {done.stderr[-3000:]}")


def _postgres_owner() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        service_missing("initdb refuses root and there is no `postgres` user to run it as")
    return "postgres"


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    """One cluster per test session with a migrated template database; each test takes a copy
    (`create_database`). A test that stops the cluster starts it again before it ends."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        service_missing("PostgreSQL's initdb/pg_ctl are not installed")
    owner = _postgres_owner()
    base = Path(tempfile.mkdtemp(prefix="tg-private-pg-"))
    if owner:
        shutil.chown(base, user=owner)
    cluster = PrivatePostgres(bin_dir=bin_dir, base=base, port=free_port(), run_as=owner)
    try:
        cluster.init()
        cluster.start()
        cluster.migrate_template()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
