"""Real servers for the distributed tests: ``redis-server`` on 127.0.0.1.

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


def _missing(what: str) -> None:
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
        _missing("redis-server is not installed")
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
