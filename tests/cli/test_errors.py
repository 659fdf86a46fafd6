"""Every failure of the command line is one ``error:`` line with the documented exit code.

Usage errors (click's own included), a missing ``cli`` extra, and an
interrupted command: 2 for bad usage, 1 for a failure, 130/143 interrupted.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cli._support import (
    SCRIPT,
    SECRET,
    WORKTREE,
    assert_no_secret,
    assert_one_error_line,
    closed_port_url,
    output,
    run,
    script_env,
)
from decisiontelecom_async._cli import _send

pytestmark = pytest.mark.network

SEND = ["send", "--sender", "Shop", "--to", "380501234567", "--text", "Hi"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            [],
            (
                "no command given; the commands are: "
                "campaign, demo, results, sandbox, send, status, worker"
            ),
        ),
        (["nope"], "No such command 'nope'"),
        (["--nope"], "No such option"),
        ([*SEND, "--nope"], "No such option"),
        (["send", "--to", "380501234567", "--text", "Hi"], "Missing option '--sender'"),
        ([*SEND, "--type", "999"], "'999' is not one of"),
        ([*SEND, "--ttl", "soon"], "'soon' is not a valid integer"),
        (["status"], "Missing argument 'MESSAGE_IDS...'"),
        (["status", "abc"], "'abc' is not a valid integer"),
        (["status", "1", "--timeout", "0"], "--timeout"),
        (["campaign"], "Missing argument 'CSV_FILE'"),
        (["campaign", "c.csv", "--results", "/tmp"], "'/tmp' is a directory"),  # noqa: S108
        (["campaign", "c.csv", "--concurrency", "0"], "--concurrency"),
        (["campaign", "c.csv", "--delimiter", "ab"], "--delimiter"),
        (["demo", "--messages", "0"], "--messages"),
        (["demo", "--nope"], "No such option"),
        (["sandbox", "--port", "70000"], "--port"),
        (["sandbox", "--drop", "2"], "--drop"),
    ],
)
def test_a_usage_error_is_one_line_with_code_2(args: list[str], says: str) -> None:
    result = run(*args, key=SECRET, base_url=closed_port_url())
    assert_one_error_line(result, code=2, says=says)
    assert "Usage:" not in output(result)
    assert_no_secret(output(result))


def test_a_usage_error_points_at_the_help_of_its_command() -> None:
    result = run("status", "abc", key=SECRET)
    assert_one_error_line(result, code=2, says="decisiontelecom status --help")


def test_help_and_version_still_print_and_exit_0() -> None:
    for args in (["--help"], ["status", "--help"], ["--version"]):
        result = run(*args)
        assert result.exit_code == 0, output(result)
        assert result.stdout
        assert not result.stderr


@pytest.mark.parametrize(
    "args",
    [
        [*SEND, "--max-retries", "0"],
        ["status", "--max-retries", "0", "1"],
    ],
    ids=["send", "status"],
)
def test_a_failure_is_one_line_with_code_1(args: list[str]) -> None:
    result = run(*args, key=SECRET, base_url=closed_port_url())
    assert_one_error_line(result, code=1, says="TransportError")


def test_a_bug_never_shows_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: object) -> int:
        raise RuntimeError(f"boom with {SECRET}")

    monkeypatch.setattr(_send, "send_one", broken)
    result = run(*SEND, key=SECRET)
    assert_one_error_line(result, code=1, says="unexpected RuntimeError: boom with [REDACTED]")
    assert_no_secret(output(result))


# -- without the cli extra -----------------------------------------------------------


@pytest.mark.parametrize("missing", ["click", "rich"])
@pytest.mark.parametrize("args", [["--help"], ["demo"], ["status", "1"]], ids=str)
def test_without_the_cli_extra_the_script_says_how_to_get_it(
    tmp_path: Path, missing: str, args: list[str]
) -> None:
    # sitecustomize runs before the script: the library looks uninstalled.
    (tmp_path / "sitecustomize.py").write_text(f"import sys\nsys.modules[{missing!r}] = None\n")
    env = script_env()
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(WORKTREE)])
    done = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [*SCRIPT, *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert lines == [
        'error: the command line needs the cli extra: pip install "decisiontelecom-async[cli]"'
    ]


# -- interrupted -------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_an_interrupted_demo_is_one_line_with_the_signal_code(
    signum: signal.Signals, code: int
) -> None:
    env = script_env()
    env["PYTHONPATH"] = str(WORKTREE)
    # start_new_session: the signal goes to the script alone, never to pytest.
    with subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
        [*SCRIPT, "demo", "--messages", "20000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    ) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            assert "sandbox at" in first, first
            process.send_signal(signum)
            _, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == code, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [f"error: interrupted by {signum.name}"], err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
@pytest.mark.parametrize("command", [SEND, ["status", "1", "2"]], ids=["send", "status"])
def test_a_command_interrupted_while_it_waits_is_one_line_with_the_signal_code(
    command: list[str], signum: signal.Signals, code: int
) -> None:
    # A server that takes the connection and never answers: the command waits.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(60)
        base_url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1/api"
        env = script_env(DECISIONTELECOM_ACCESS_KEY=SECRET, DECISIONTELECOM_BASE_URL=base_url)
        env["PYTHONPATH"] = str(WORKTREE)
        with subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
            [*SCRIPT, *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        ) as process:
            try:
                connection, _ = listener.accept()  # the request is on its way
                with connection:
                    process.send_signal(signum)
                    out, err = process.communicate(timeout=60)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.communicate()
    assert process.returncode == code, err
    assert out == ""
    assert [line for line in err.splitlines() if line.strip()] == [
        f"error: interrupted by {signum.name}"
    ]
    assert_no_secret(err)


def test_a_sandbox_that_cannot_listen_is_one_line_with_code_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        result = run("sandbox", "--port", str(taken.getsockname()[1]))
    assert_one_error_line(result, code=1, says="address already in use")
