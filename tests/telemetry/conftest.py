"""The global providers, in memory, for every test here (see tests/_otel.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the telemetry tests read opentelemetry-sdk")

from _otel import Exported, exported


@pytest.fixture
def otel() -> Iterator[Exported]:
    with exported() as found:
        yield found
