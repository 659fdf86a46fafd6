"""The command group: help, and what every command shares."""

from __future__ import annotations

import pytest

from cli._support import (
    run,
)

pytestmark = pytest.mark.network


def test_help_lists_every_command() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for command in ("send", "status", "campaign", "sandbox", "demo"):
        assert command in result.stdout
