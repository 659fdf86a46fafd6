"""The journal survives its process: ``kill -9``, SIGTERM and Ctrl-C, then a resume.

A real campaign runs in a subprocess (``_journal_campaign.py``) against a real
loopback server in this process that counts what it accepts per receiver.
The process is killed at random points, many times, then resumed to the end;
after every kill and at the end the journal must account for every message
the server accepted, and no message may be accepted twice.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from _loopback import Reply, loopback

pytestmark = pytest.mark.network

SCRIPT = Path(__file__).with_name("_journal_campaign.py")
ROOT = Path(__file__).resolve().parent.parent
COUNT = 400
CONCURRENCY = 8
PROCESS_TIMEOUT = 120.0


class Counting:
    """Accepts every send, a little late, and counts acceptances per receiver."""

    def __init__(self) -> None:
        self.accepted: collections.Counter[int] = collections.Counter()
        self.ids: dict[int, int] = {}
        self.requests = 0

    def plan(self, _number: int, _path: str) -> Reply:
        self.requests += 1
        return Reply(body=self.answer, delay=0.002)

    def answer(self, body: bytes) -> object:
        receiver = int(json.loads(body)["destination_addr"]) - 380500000000
        self.accepted[receiver] += 1
        message_id = 10_000 + sum(self.accepted.values())
        self.ids[receiver] = message_id
        return {"message_id": message_id}


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


async def start(journal: Path, base_url: str, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        str(journal),
        base_url,
        str(COUNT),
        str(CONCURRENCY),
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env(),
    )


async def wait_for_requests(
    service: Counting, target: int, process: asyncio.subprocess.Process
) -> None:
    async def reached() -> None:
        while service.requests < target and process.returncode is None:  # noqa: ASYNC110 - polls a plain counter
            await asyncio.sleep(0.001)

    await asyncio.wait_for(reached(), PROCESS_TIMEOUT)


def journal_rows(path: Path) -> dict[int, tuple[str, int | None]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as raw:
        rows = raw.execute("SELECT idx, state, message_id FROM inputs").fetchall()
    return {idx: (state, message_id) for idx, state, message_id in rows}


def check_accounted(service: Counting, path: Path) -> set[int]:
    """Every accepted message is in the journal as sent (with its id) or unknown."""
    rows = journal_rows(path)
    assert all(count == 1 for count in service.accepted.values()), "accepted twice"
    unknown = set()
    for receiver in service.accepted:
        state, message_id = rows[receiver]
        assert state in {"sent", "claimed", "unknown"}, (receiver, state)
        if state == "sent":
            assert message_id == service.ids[receiver]
        else:
            unknown.add(receiver)
    for index, (state, _) in rows.items():
        if state == "sent":
            assert index in service.accepted  # nothing recorded as sent that was not
    return {index for index, (state, _) in rows.items() if state in {"claimed", "unknown"}}


async def finish(process: asyncio.subprocess.Process) -> tuple[int, list[dict[str, object]], str]:
    out, err = await asyncio.wait_for(process.communicate(), PROCESS_TIMEOUT)
    lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert process.returncode is not None
    return process.returncode, lines, err.decode()


def check_final_run(lines: list[dict[str, object]], unknown: set[int]) -> None:
    """The last run yields exactly one outcome per input; only the unknown are not ok."""
    assert sorted(int(line["index"]) for line in lines) == list(range(COUNT))  # type: ignore[call-overload]
    for line in lines:
        if line["index"] in unknown:
            assert line["resumed"]
            assert line["unknown"]
        else:
            assert line["error"] is None, line


async def test_kill_9_at_random_points_loses_nothing_and_sends_nothing_twice(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "crash.journal"
    service = Counting()
    rng = random.Random(1234)  # noqa: S311 - kill points, not secrets
    unknown_before: set[int] = set()
    async with loopback(service.plan) as server:
        for _ in range(6):
            target = service.requests + rng.randint(5, COUNT // 8)
            process = await start(journal, server.base_url)
            await wait_for_requests(service, target, process)
            await asyncio.sleep(rng.random() * 0.01)
            process.kill()
            code, _, _ = await finish(process)
            assert code == -signal.SIGKILL  # killed mid-run, not finished
            unknown = check_accounted(service, journal)
            assert len(unknown - unknown_before) <= CONCURRENCY
            unknown_before = unknown
        process = await start(journal, server.base_url)
        code, lines, err = await finish(process)
    assert code == 0, err
    unknown = check_accounted(service, journal)
    assert unknown == unknown_before  # never resent without resend_unknown
    check_final_run(lines, unknown)
    rows = journal_rows(journal)
    assert len(rows) == COUNT
    assert set(service.accepted) | unknown == set(range(COUNT))
    assert {state for state, _ in rows.values()} <= {"sent", "claimed", "unknown"}


@pytest.mark.parametrize(
    ("signal_number", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)]
)
async def test_sigterm_and_ctrl_c_stop_the_run_and_the_journal_holds(
    tmp_path: Path, signal_number: int, exit_code: int
) -> None:
    journal = tmp_path / "stopped.journal"
    service = Counting()
    async with loopback(service.plan) as server:
        for round_ in range(3):
            process = await start(journal, server.base_url)
            await wait_for_requests(service, service.requests + 30 + 20 * round_, process)
            process.send_signal(signal_number)
            code, lines, err = await finish(process)
            assert code == exit_code, err
            unknown = check_accounted(service, journal)
            assert len(unknown) <= CONCURRENCY * (round_ + 1)
            rows = journal_rows(journal)
            # What was handed out before the stop is in the journal, settled.
            for line in lines:
                if not line["resumed"] and line["error"] is None:
                    assert rows[int(line["index"])][0] == "sent"  # type: ignore[call-overload]
        process = await start(journal, server.base_url)
        code, lines, err = await finish(process)
    assert code == 0, err
    unknown = check_accounted(service, journal)
    check_final_run(lines, unknown)
    assert set(service.accepted) | unknown == set(range(COUNT))


async def test_two_processes_on_one_journal_never_both_send(tmp_path: Path) -> None:
    journal = tmp_path / "shared.journal"
    service = Counting()
    release = asyncio.Event()

    async def held(number: int, path: str) -> Reply:
        reply = service.plan(number, path)
        if number >= 5:
            await release.wait()  # the first process stays mid-campaign
        return reply

    async with loopback(held) as server:
        first = await start(journal, server.base_url)
        await wait_for_requests(service, 5, first)
        second = await start(journal, server.base_url)
        code, lines, err = await finish(second)
        release.set()
        first_code, first_lines, first_err = await finish(first)
    assert code == 3
    assert "in use by another process" in err
    assert lines == []
    assert first_code == 0, first_err
    assert len(first_lines) == COUNT
    assert all(count == 1 for count in service.accepted.values())
    assert len(service.accepted) == COUNT


def _make_read_only(paths: list[Path]) -> bool:
    """Make ``paths`` unwritable, also for root (``chattr +i``); False if impossible."""
    if os.geteuid() != 0:
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
        return True
    done = subprocess.run(["chattr", "+i", *map(str, paths)], check=False, capture_output=True)  # noqa: S603, S607 - a fixed tool on test files
    return done.returncode == 0


def _make_writable(paths: list[Path]) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", *map(str, paths)], check=False, capture_output=True)  # noqa: S603, S607 - a fixed tool on test files
    for path in paths:
        path.chmod(0o755 if path.is_dir() else 0o644)


async def test_a_read_only_journal_is_refused_before_sending(tmp_path: Path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    journal = folder / "ro.journal"
    service = Counting()
    async with loopback(service.plan) as server:
        code, _, err = await finish(await start(journal, server.base_url))
        assert code == 0, err
        sent = service.requests
        paths = [*folder.iterdir(), folder]
        if not _make_read_only(paths):
            pytest.fail("cannot make a file read-only here (root without chattr)")
        try:
            code, lines, err = await finish(await start(journal, server.base_url, "--more"))
        finally:
            _make_writable(paths)
    assert code == 3, err
    assert "journal" in err
    assert lines == []
    assert service.requests == sent


def _small_files() -> None:  # pragma: no cover - runs in the child
    # Writes past 64 KiB fail with EFBIG instead of killing the process: a full disk.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


async def test_a_full_disk_stops_the_run_with_every_sent_message_claimed(tmp_path: Path) -> None:
    journal = tmp_path / "full.journal"
    service = Counting()
    count = 4000
    async with loopback(service.plan) as server:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPT),
            str(journal),
            server.base_url,
            str(count),
            str(CONCURRENCY),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env(),
            preexec_fn=_small_files,
        )
        code, lines, err = await finish(process)
    assert code == 3, err
    assert "cannot be written" in err
    assert 0 < len(service.accepted) < count
    rows = journal_rows(journal)
    assert set(service.accepted) <= set(rows)  # no request left without its claim
    aborted = [line for line in lines if line["error"] == "CampaignAborted"]
    assert aborted
