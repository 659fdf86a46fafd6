"""Shared fixtures: fake time for retries, a respx router, sample messages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import attrs
import pytest
import respx
from _otel import reset_globals

from decisiontelecom_async import ViberClient, ViberMessage

BASE_URL = "https://web.it-decision.com/v1/api"
ACCESS_KEY = "s3cr3t-access-key-XYZ"


@attrs.define
class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    now: float = 1000.0
    sleeps: list[float] = attrs.Factory(list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def _no_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients read credentials and base URLs from these; a test sets them itself."""
    for name in (
        "DECISIONTELECOM_ACCESS_KEY",
        "DECISIONTELECOM_BASE_URL",
        "DECISIONTELECOM_SMS_LOGIN",
        "DECISIONTELECOM_SMS_PASSWORD",
        "DECISIONTELECOM_SMS_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _no_telemetry_provider_left() -> Iterator[None]:
    """A provider a test (or a docs example) set does not outlive it (tests/_otel.py)."""
    yield
    reset_globals()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """A respx router on the default base URL; unmatched requests fail the test."""
    # using="httpx" intercepts whatever transport the client sends through
    # (httpx's own, or httpx-aiohttp's with the `fast` extra installed).
    with respx.mock(base_url=BASE_URL, assert_all_called=False, using="httpx") as router:
        yield router


@pytest.fixture
async def client(fake_time: FakeTime) -> AsyncIterator[ViberClient]:
    """A client on the default base URL whose retries sleep on fake time."""
    async with ViberClient(ACCESS_KEY) as viber:
        viber._sleep = fake_time.sleep
        viber._clock = fake_time.clock
        yield viber


@pytest.fixture
def message() -> ViberMessage:
    return ViberMessage("Custom Company", "380636111112", "Message content")
