"""Fixtures of the command line's tests; without the ``cli`` extra, only what needs none."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from cli._support import ServedSandbox

_MISSING = [name for name in ("click", "rich") if importlib.util.find_spec(name) is None]
if _MISSING:
    # The command line is the `cli` extra: on a core install only the CSV reading
    # and the import rules (neither needs click or rich) are tested.
    collect_ignore = [
        "_support.py",
        "test_app.py",
        "test_campaign.py",
        "test_campaign_journal.py",
        "test_demo.py",
        "test_errors.py",
        "test_results.py",
        "test_sandbox.py",
        "test_send.py",
        "test_status.py",
    ]


@pytest.fixture
def served() -> Iterator[ServedSandbox]:
    from cli._support import ServedSandbox  # noqa: PLC0415 - needs the cli extra

    # time_scale=0: statuses stay where they are and no callbacks go out.
    with ServedSandbox(time_scale=0, seed=3) as server:
        yield server
