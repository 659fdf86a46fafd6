"""What ``pip install decisiontelecom-async`` gives a user: the core works without any extra.

A real subprocess hides the extras' libraries (aiohttp and yarl of ``fast``,
click and rich of ``cli``, opentelemetry of ``otel``) before the package is
imported, then sends through a served sandbox, so this holds in the
all-extras environment too.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.network

CORE_ONLY = textwrap.dedent(
    """
    import importlib.abc
    import sys

    HIDDEN = {"aiohttp", "yarl", "multidict", "click", "rich", "opentelemetry"}


    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.partition(".")[0] in HIDDEN:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None


    sys.meta_path.insert(0, Hide())

    import asyncio

    import httpx

    import decisiontelecom_async as dt
    from decisiontelecom_async.sandbox import Sandbox


    async def main():
        async with Sandbox() as box, box.serve(host="127.0.0.1", port=0):
            async with dt.ViberClient("sandbox-key", base_url=box.base_url) as client:
                print("transport", type(client._http._transport).__name__)
                sent = await client.send(dt.ViberMessage("Shop", "380501234567", "Hi"))
                receipt = await client.get_status(sent)
        print("receipt", receipt.message_id == sent)
        print("loaded", sorted({m.partition(".")[0] for m in sys.modules} & HIDDEN))


    asyncio.run(main())
    """
)


def test_the_core_install_imports_and_sends_without_any_extra() -> None:
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", CORE_ONLY],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "transport AsyncHTTPTransport",  # httpx's own, without the fast extra
        "receipt True",
        "loaded []",
    ]
