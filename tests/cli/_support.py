"""What the command line's tests share: a served sandbox, runners, result readers."""

from __future__ import annotations

import asyncio
import base64
import collections
import csv
import http.server
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Self

from click.testing import CliRunner, Result

from decisiontelecom_async._cli._app import cli
from decisiontelecom_async._cli._csv import RESULT_COLUMNS
from decisiontelecom_async.sandbox import Sandbox

SECRET = "s3cr3t-CLI-key-do-not-print"
SECRET_B64 = base64.b64encode(SECRET.encode()).decode()
SANDBOX_KEY = "sandbox-key"
_SCRIPT = Path(sys.executable).parent / "decisiontelecom"
# The installed entry point; the same main() when run from a tree not installed.
SCRIPT = (
    [str(_SCRIPT)]
    if _SCRIPT.exists()
    else [sys.executable, "-c", "from decisiontelecom_async._cli import main; main()"]
)


class ServedSandbox:
    """A sandbox served on loopback from a thread with its own event loop."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self.base_url = ""
        self.sandbox: Sandbox | None = None
        self._thread = threading.Thread(target=self._main, name="served-sandbox", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with Sandbox(**self._options) as sandbox, sandbox.serve(port=0) as base_url:
            self.sandbox = sandbox
            self.base_url = base_url
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> Self:
        self._thread.start()
        assert self._ready.wait(10), "the sandbox did not start"
        if self._failure is not None:
            raise self._failure
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        assert not self._thread.is_alive()
        if self._failure is not None:
            raise self._failure


def closed_port_url() -> str:
    """A loopback URL where nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/api"


def run(*args: str, key: str | None = SANDBOX_KEY, base_url: str | None = None) -> Result:
    env = {"DECISIONTELECOM_ACCESS_KEY": key, "DECISIONTELECOM_BASE_URL": base_url}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def output(result: Result) -> str:
    return result.stdout + result.stderr


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text
        assert SECRET_B64 not in text


def assert_one_error_line(result: Result, *, code: int, says: str) -> None:
    assert result.exit_code == code, output(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines
    assert says in lines[0]
    assert "Traceback" not in output(result)


def read_results(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == RESULT_COLUMNS
        return list(reader)


def script_env(**extra: str) -> dict[str, str]:
    env = {
        name: value for name, value in os.environ.items() if not name.startswith("DECISIONTELECOM_")
    }
    env.update(extra)
    env["COLUMNS"] = "100"
    return env


# -- a campaign killed or stopped keeps its record ----------------------------------------

WORKTREE = Path(__file__).resolve().parents[2]
# This tree's package, whichever one the interpreter has installed.
CAMPAIGN_SCRIPT = [sys.executable, "-c", "from decisiontelecom_async._cli import main; main()"]


class CountingServer:
    """A loopback stand-in that accepts every send with a fresh id, a little slowly.

    It runs in threads of its own, so it keeps answering while the test waits
    on the subprocess; :attr:`ids` are the ids it handed out, in order, and
    :attr:`receivers` how many sends it accepted for each receiver. A
    receiver in :attr:`drop_once` has its first request read and then its
    connection closed unanswered (the answer lost, the message accepted).
    """

    def __init__(self, delay: float) -> None:
        self.ids: list[int] = []
        self.receivers: collections.Counter[str] = collections.Counter()
        self.by_id: dict[int, str] = {}
        self.drop_once: set[str] = set()
        self.lock = threading.Lock()
        counting = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver = str(json.loads(body).get("destination_addr"))
                time.sleep(delay)
                with counting.lock:
                    message_id = 7_000_000 + len(counting.ids)
                    counting.ids.append(message_id)
                    counting.receivers[receiver] += 1
                    counting.by_id[message_id] = receiver
                    dropped = receiver in counting.drop_once
                    counting.drop_once.discard(receiver)
                if dropped:
                    self.close_connection = True
                    return
                data = json.dumps({"message_id": message_id}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1/api"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def accepted(self) -> set[int]:
        with self.lock:
            return set(self.ids)

    def accepted_receivers(self) -> collections.Counter[str]:
        with self.lock:
            return collections.Counter(self.receivers)

    def wait_for(self, count: int, process: subprocess.Popen[str]) -> None:
        for _ in range(6000):
            if len(self.ids) >= count or process.poll() is not None:
                return
            time.sleep(0.01)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


def write_campaign(path: Path, rows: int) -> None:
    lines = ["receiver,text,sender"]
    lines += [f"380{500000000 + i},Hello {i},Shop" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def start_campaign(
    server: CountingServer, source: Path, results: Path, concurrency: int, *extra: str
) -> subprocess.Popen[str]:
    env = script_env(
        DECISIONTELECOM_ACCESS_KEY=SANDBOX_KEY,
        DECISIONTELECOM_BASE_URL=server.base_url,
        PYTHONPATH=str(WORKTREE),
    )
    # start_new_session: the signal goes to the campaign alone, never to pytest.
    return subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
        [
            *CAMPAIGN_SCRIPT,
            "campaign",
            str(source),
            "--results",
            str(results),
            "--concurrency",
            str(concurrency),
            "--max-retries",
            "0",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )


def read_settled_rows(path: Path) -> list[dict[str, str]]:
    """The complete rows on disk (a row cut short by a kill is not one)."""
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return list(reader)
