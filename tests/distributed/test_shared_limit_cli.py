"""``--shared-limit redis://...`` on ``campaign`` and ``demo``, in real processes.

Two ``campaign`` processes share one limit against a loopback service in
this process that counts what it accepts per second of its own clock.
"""

from __future__ import annotations

import asyncio
import io
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("redis", reason="needs the distributed extra (redis)")
pytest.importorskip("click", reason="needs the cli extra")

from cli._support import assert_one_error_line, run
from rich.console import Console

from decisiontelecom_async._cli._demo import run_demo
from decisiontelecom_async._cli._options import shared_rate_limit
from distributed._counting import CountingService

if TYPE_CHECKING:
    from _servers import RedisServer

pytestmark = pytest.mark.network

ROOT = Path(__file__).parents[2]
CLI = [sys.executable, "-c", "from decisiontelecom_async._cli import main; main()"]
KEY = "shared-cli-key-s3cret"
DEADLINE = 120.0


def env(base_url: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("DECISIONTELECOM_")}
    return {
        **kept,
        "PYTHONPATH": str(ROOT),
        "DECISIONTELECOM_ACCESS_KEY": KEY,
        "DECISIONTELECOM_BASE_URL": base_url,
        "COLUMNS": "100",
    }


def campaign_file(path: Path, first: int, count: int) -> Path:
    rows = "".join(f"{380500000000 + i},Hi {i},Shop\n" for i in range(first, first + count))
    path.write_text("receiver,text,sender\n" + rows, encoding="utf-8")
    return path


async def run_cli(base_url: str, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env(base_url),
    )
    _, err = await asyncio.wait_for(process.communicate(), DEADLINE)
    assert process.returncode is not None
    return process.returncode, err.decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


async def test_two_campaigns_share_one_rate_limit(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    rate, count = 50.0, 100
    service = CountingService()
    first = campaign_file(tmp_path / "a.csv", 0, count)
    second = campaign_file(tmp_path / "b.csv", count, count)
    shared = ["--shared-limit", redis_server.url, "--rate-limit", f"{rate:g}"]
    async with service.serve() as server:
        # One with its SQLite journal, one with none: the limit is the same.
        results = await asyncio.gather(
            run_cli(server.base_url, "campaign", str(first), *shared),
            run_cli(server.base_url, "campaign", str(second), "--no-journal", *shared),
        )
    for code, err in results:
        assert code == 0, err
        assert KEY not in err
    assert len(service.receivers) == 2 * count
    assert set(service.receivers.values()) == {1}
    # Two processes at 50/s each would send 100 a second: shared, every whole
    # second of the service's clock holds at most 1.1x the total.
    full = service.full_windows()
    assert len(full) >= 2, service.windows
    assert max(full) <= 1.1 * rate, service.windows


async def test_campaign_with_redis_unreachable_is_one_line_and_sends_nothing(
    tmp_path: Path,
) -> None:
    service = CountingService()
    source = campaign_file(tmp_path / "a.csv", 0, 20)
    url = f"redis://:redis-pa55@127.0.0.1:{free_port()}/0"
    async with service.serve() as server:
        code, err = await run_cli(server.base_url, "campaign", str(source), "--shared-limit", url)
    assert code == 1, err
    lines = error_lines(err)
    assert len(lines) == 1, err
    assert "Redis at redis://127.0.0.1:" in lines[0]
    assert "nothing was sent" in lines[0]
    assert "redis-pa55" not in err
    assert KEY not in err
    assert service.arrivals == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--shared-limit", "http://127.0.0.1:6379"], "redis://"),
        (["--shared-limit", "redis://127.0.0.1:6379/0", "--rate-limit", "none"], "none"),
    ],
)
def test_a_bad_shared_limit_is_a_usage_error(tmp_path: Path, args: list[str], says: str) -> None:
    source = campaign_file(tmp_path / "a.csv", 0, 5)
    dead = f"http://127.0.0.1:{free_port()}/v1/api"
    result = run("campaign", str(source), *args, key=KEY, base_url=dead)
    assert_one_error_line(result, code=2, says=says)


async def test_demo_sends_through_a_shared_limit(redis_server: RedisServer) -> None:
    # In-process with deliveries sped up (the command's own option parsing is
    # the usage tests' and the unreachable test's).
    console = Console(file=io.StringIO(), width=120)
    limit = shared_rate_limit(300.0, redis_server.url)
    code = await run_demo(40, seed=2, console=console, time_scale=20, rate_limit=limit)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert code == 0, text
    assert "rate limit (shared)" in text
    assert "300 req/s" in text


def test_demo_with_redis_unreachable_is_one_line() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = run("demo", "--messages", "40", "--shared-limit", url)
    assert_one_error_line(result, code=1, says="Redis at redis://127.0.0.1:")
