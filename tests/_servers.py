"""Real servers for the distributed tests: ``redis-server`` and PostgreSQL on 127.0.0.1.

Shared by ``tests/distributed/conftest.py`` (which imports the fixtures) and
``tests/test_docs_commands.py`` (which runs the docs' distributed commands
against them).

The server is started once per session on a free port, with its files in a
temporary directory, and stopped by its PID at the end. It can be stopped
and started again on the same port mid-test (:meth:`RedisServer.stop`,
:meth:`RedisServer.start`), for the outage tests.

Without the binary the tests skip with the reason, except in CI
(``CI=true``), where they fail instead: CI installs ``redis-server``
(``.ci/run``) and must never skip them silently. Without redis-py (the
``distributed`` extra: the ``tests_core`` session) the test modules skip,
as every extra's tests do there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

_START_TIMEOUT = 20.0


def missing(what: str) -> None:
    reason = f"{what} (install it: apt-get install -y redis-server)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the distributed tests, but {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")
    return False


class RedisServer:
    """One ``redis-server`` on 127.0.0.1, started and stopped by PID."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server (again, on the same port) and wait until it answers."""
        args = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port)]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        self.process = subprocess.Popen(  # noqa: S603 - the test's own binary
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while not _answers_ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server at once (SIGKILL: an outage, not a shutdown)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=_START_TIMEOUT)
            self.process = None

    def freeze(self) -> None:
        """Stop the server answering, connections left open (SIGSTOP): a Redis that hangs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Let a frozen server answer again (SIGCONT)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def flush(self) -> None:
        """Forget every key (between tests)."""
        with socket.create_connection(("127.0.0.1", self.port), 5) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            assert sock.recv(16).startswith(b"+OK")


@pytest.fixture(scope="session")
def redis_session() -> Iterator[RedisServer]:
    """A real redis-server for the whole session."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server is not installed")
    assert binary is not None
    with tempfile.TemporaryDirectory(prefix="dt-redis-") as directory:
        server = RedisServer(binary, Path(directory))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def redis_server(redis_session: RedisServer) -> RedisServer:
    """The session's redis-server, running and empty."""
    if redis_session.process is None:
        redis_session.start()
    redis_session.flush()
    return redis_session


# -- PostgreSQL ---------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The newest PostgreSQL server binaries found (Debian's layout, then the PATH)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def missing_postgres(what: str) -> None:
    reason = f"{what} (install it: apt-get install -y postgresql)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the distributed tests, but {reason}")
    pytest.skip(reason)


class PostgresServer:
    """One PostgreSQL cluster on 127.0.0.1 in a temporary directory, trust auth.

    ``initdb`` refuses to run as root: as root the cluster belongs to the
    ``postgres`` user and every server command runs as it (``runuser``);
    otherwise as the current user.
    """

    def __init__(self, bindir: Path, directory: Path) -> None:
        self.bindir = bindir
        self.data = directory / "data"
        self.sockets = directory / "sockets"
        self.port = _free_port()
        self.user = "postgres"
        self.running = False
        self._databases = 0
        as_root = os.geteuid() == 0
        self._prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
        for path in (self.data, self.sockets):
            path.mkdir()
        if as_root:
            shutil.chown(directory, "postgres")
            for path in (self.data, self.sockets):
                shutil.chown(path, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.user, "-N")

    def _run(self, tool: str, *args: str) -> None:
        command = [*self._prefix, str(self.bindir / tool), *args]
        done = subprocess.run(  # noqa: S603 - the test's own binaries
            command, capture_output=True, timeout=_START_TIMEOUT * 3, check=False
        )
        if done.returncode != 0:
            pytest.fail(f"{tool} failed: {done.stderr.decode(errors='replace')[-2000:]}")

    def dsn(self, database: str = "postgres", *, password: str | None = None) -> str:
        """A DSN of ``database`` (with a password in it, which trust auth ignores)."""
        auth = self.user if password is None else f"{self.user}:{password}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start the server (again, on the same port) and wait until it accepts connections."""
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockets} -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "-l",
            str(self.data / "server.log"),
            "start",
        )
        self.running = True

    def stop(self) -> None:
        """Stop the server at once (``-m immediate``: an outage, not a shutdown)."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.running = False

    def kill(self) -> None:
        """The last resort at the end of the session: SIGKILL the postmaster by its PID."""
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)

    def new_database(self) -> str:
        """Create a fresh database; its DSN."""
        self._databases += 1
        name = f"t{self._databases}_{os.getpid()}"
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name)
        return self.dsn(name)


@pytest.fixture(scope="session")
def postgres_session() -> Iterator[PostgresServer]:
    """A real PostgreSQL for the whole session."""
    bindir = postgres_bin()
    if bindir is None or not (bindir / "initdb").exists():
        missing_postgres("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
    assert bindir is not None
    with tempfile.TemporaryDirectory(prefix="dt-postgres-") as directory:
        server = PostgresServer(bindir, Path(directory))
        server.start()
        try:
            yield server
        finally:
            try:
                server.stop()
            finally:
                server.kill()


@pytest.fixture
def postgres_server(postgres_session: PostgresServer) -> PostgresServer:
    """The session's PostgreSQL, running."""
    if not postgres_session.running:
        postgres_session.start()
    return postgres_session


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """A DSN of a database of this test's own."""
    return postgres_server.new_database()
