"""The command group: help, and what every command shares."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cli._support import WORKTREE, run, script_env

pytestmark = pytest.mark.network


def test_help_lists_every_command() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for command in ("send", "status", "campaign", "sandbox", "demo"):
        assert command in result.stdout


def test_python_dash_m_runs_the_same_command_line() -> None:
    env = script_env()
    env["PYTHONPATH"] = str(WORKTREE)
    done = subprocess.run(
        [sys.executable, "-m", "decisiontelecom_async._cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for command in ("send", "status", "campaign", "sandbox", "demo"):
        assert command in done.stdout
    assert "Usage: decisiontelecom" in done.stdout
