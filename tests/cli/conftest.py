"""Fixtures of the command line's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cli._support import ServedSandbox


@pytest.fixture
def served() -> Iterator[ServedSandbox]:
    # time_scale=0: statuses stay where they are and no callbacks go out.
    with ServedSandbox(time_scale=0, seed=3) as server:
        yield server
