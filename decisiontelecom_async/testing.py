"""Pytest fixtures that put a sandbox behind your code.

Enable the plugin in your top-level ``conftest.py``::

    pytest_plugins = ["decisiontelecom_async.testing"]

Then ask for the fixtures::

    async def test_welcome_message(sandbox, sandbox_client):
        message_id = await send_welcome(sandbox_client, "380501234567")
        await sandbox.advance(5)  # simulated seconds: no sleeping
        assert sandbox.message(message_id).status is ViberStatus.DELIVERED

Configure a test's sandbox with the ``sandbox`` marker, whose keywords are
:class:`~decisiontelecom_async.sandbox.SandboxConfig` fields (plus
``callback_transport``)::

    @pytest.mark.sandbox(server_error_share=0.3, seed=7)
    async def test_survives_outages(sandbox_client): ...

The fixtures are async, through pytest-asyncio (``pip install
"decisiontelecom-async[testing]"`` brings it); they work in its strict and
auto modes. In strict mode (pytest-asyncio's default) the plugin marks an
``async def`` test that asks for one of its fixtures (or carries the
``sandbox`` marker) with ``@pytest.mark.asyncio`` itself, so the plugin line
is all the configuration needed; other tests are left as they are.

Fixtures:

``sandbox_config``
    The :class:`SandboxConfig`: the marker's keywords over ``time_scale=0``
    (time moves only with :meth:`Sandbox.advance`) and ``seed=0``. Override
    the fixture to change the defaults for a whole module.
``sandbox``
    An in-process :class:`Sandbox`. Its callbacks are answered ``204`` and
    recorded in :attr:`Sandbox.callbacks` instead of going to the network;
    pass ``callback_transport`` in the marker to route them to your app
    (``httpx.ASGITransport(app=...)``).
``sandbox_client``
    A :class:`ViberClient` wired to ``sandbox`` in process, with quick retries.
``sandbox_sms_client``
    An :class:`SmsClient` wired to ``sandbox`` in process, with quick retries.
``sandbox_server``
    The same ``sandbox``, also served on ``127.0.0.1`` (a free port) while
    the test runs: ``sandbox_server.base_url`` is a real URL.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Generator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

try:
    import pytest_asyncio
except ImportError as exc:  # pragma: no cover - depends on the user's environment
    msg = "decisiontelecom_async.testing needs pytest-asyncio: pip install pytest-asyncio"
    raise ImportError(msg) from exc

from decisiontelecom_async._retry import RetryPolicy
from decisiontelecom_async.sandbox import Sandbox, SandboxConfig

if TYPE_CHECKING:
    from decisiontelecom_async._sms_client import SmsClient
    from decisiontelecom_async._viber_client import ViberClient

__all__ = [
    "QUICK_RETRIES",
    "sandbox",
    "sandbox_client",
    "sandbox_config",
    "sandbox_server",
    "sandbox_sms_client",
]

QUICK_RETRIES = RetryPolicy(max_retries=3, initial_wait=0.01, max_wait=0.05, jitter=0.01)
"""The retry policy of the fixture clients: the same retries, without the long waits."""

_SANDBOX_ONLY = frozenset({"callback_transport"})
_FIXTURES = frozenset(
    {"sandbox", "sandbox_client", "sandbox_config", "sandbox_server", "sandbox_sms_client"}
)
# A test already given to an async framework is left to it.
_ASYNC_MARKERS = frozenset({"asyncio", "anyio", "trio"})


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``sandbox`` marker."""
    config.addinivalue_line(
        "markers",
        "sandbox(**options): SandboxConfig fields (and callback_transport) for the "
        "decisiontelecom_async sandbox fixtures",
    )


def _marks_of(obj: object) -> set[str]:
    marks = getattr(obj, "pytestmark", [])
    return {mark.name for mark in (marks if isinstance(marks, list) else [marks])}


def _wants_the_sandbox(collector: pytest.Module | pytest.Class, obj: object) -> bool:
    if not inspect.iscoroutinefunction(obj):
        return False
    marks = _marks_of(obj) | {marker.name for marker in collector.iter_markers()}
    if marks & _ASYNC_MARKERS:
        return False
    return "sandbox" in marks or bool(_FIXTURES & set(inspect.signature(obj).parameters))


@pytest.hookimpl(hookwrapper=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> Generator[None, Any, None]:
    """Mark ``async def`` tests using the sandbox with ``asyncio``, before pytest-asyncio looks.

    pytest-asyncio's strict mode runs only marked async tests; without this a
    test on these fixtures fails with "async def functions are not natively
    supported" unless the project sets ``asyncio_mode = "auto"``.
    """
    if collector.funcnamefilter(name) and _wants_the_sandbox(collector, obj):
        pytest.mark.asyncio(obj)
    yield


def _marker_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    # Closest last, so a test's marker wins over its class's and module's.
    for marker in reversed(list(request.node.iter_markers("sandbox"))):
        if marker.args:
            msg = "@pytest.mark.sandbox takes keyword arguments only"
            raise TypeError(msg)
        options.update(marker.kwargs)
    return options


def _answer_callback(_: httpx.Request) -> httpx.Response:
    return httpx.Response(204)


@pytest.fixture
def sandbox_config(request: pytest.FixtureRequest) -> SandboxConfig:
    """The sandbox's configuration: the ``sandbox`` marker over frozen time and seed 0."""
    options = {
        key: value for key, value in _marker_options(request).items() if key not in _SANDBOX_ONLY
    }
    return SandboxConfig(**{"time_scale": 0.0, "seed": 0, **options})


@pytest_asyncio.fixture
async def sandbox(
    request: pytest.FixtureRequest, sandbox_config: SandboxConfig
) -> AsyncIterator[Sandbox]:
    """An in-process sandbox; callbacks are recorded, not sent to the network."""
    options = _marker_options(request)
    transport = options.get("callback_transport") or httpx.MockTransport(_answer_callback)
    async with Sandbox(sandbox_config, callback_transport=transport) as instance:
        yield instance


@pytest_asyncio.fixture
async def sandbox_client(sandbox: Sandbox) -> AsyncIterator[ViberClient]:
    """A ViberClient on the sandbox (in process, or served if ``sandbox_server`` is used)."""
    async with sandbox.client(retry_policy=QUICK_RETRIES) as client:
        yield client


@pytest_asyncio.fixture
async def sandbox_sms_client(sandbox: Sandbox) -> AsyncIterator[SmsClient]:
    """An SmsClient on the sandbox."""
    async with sandbox.sms_client(retry_policy=QUICK_RETRIES) as client:
        yield client


@pytest_asyncio.fixture
async def sandbox_server(sandbox: Sandbox) -> AsyncIterator[Sandbox]:
    """The ``sandbox``, served over real HTTP on 127.0.0.1 while the test runs."""
    async with sandbox.serve(host="127.0.0.1", port=0):
        yield sandbox
