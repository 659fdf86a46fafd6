"""Without the ``otel`` extra: nothing under ``opentelemetry`` is imported, and sending works."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.network

BLOCKED = textwrap.dedent(
    """
    import importlib.abc
    import sys


    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.partition(".")[0] == "opentelemetry":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None


    sys.meta_path.insert(0, Block())

    import asyncio

    import decisiontelecom_async as dt
    from decisiontelecom_async import _telemetry
    from decisiontelecom_async.sandbox import Sandbox


    async def main():
        async with Sandbox() as box, box.serve(host="127.0.0.1", port=0):
            async with dt.ViberClient("sandbox-key", base_url=box.base_url) as client:
                sent = await client.send(dt.ViberMessage("Shop", "380501234567", "Hi"))
                ok = [o.ok async for o in client.send_many(
                    [dt.ViberMessage("Shop", "380501234567", "Hi")] * 3
                )]
                print("hooks", _telemetry.HOOKS, client._telemetry)
        print("sent", sent > 0, ok)
        print("loaded", sorted(m for m in sys.modules if m.partition(".")[0] == "opentelemetry"))


    asyncio.run(main())
    """
)


def test_without_opentelemetry_nothing_of_it_is_imported_and_sends_work() -> None:
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", BLOCKED], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "hooks None None",
        "sent True [True, True, True]",
        "loaded []",
    ]
