"""A local stand-in for the DecisionTelecom service, for tests and demos.

The sandbox follows the vendor page rather than replaying canned answers: it
checks the Basic auth key, validates every request body by the page's rules
(``400 Invalid Parameter: <name>``), hands out 64-bit ids, moves each
message through pending, sent and delivered (or undelivered, rejected, and
an SMS fallback) over simulated time, answers ``receive-viber`` for 5 days,
POSTs status changes and 2-Way replies to ``callback_url``, and serves the
SMS API too. Faults are knobs: a rate limit, 500s, errors inside an HTTP 200,
latency, a balance that runs out, dropped connections. Every random choice is
seeded.

In process, with no socket::

    from decisiontelecom_async import ViberClient, ViberMessage
    from decisiontelecom_async.sandbox import Sandbox

    async with Sandbox(seed=1, time_scale=0) as sandbox:
        async with sandbox.client() as client:
            message_id = await client.send(ViberMessage("Shop", "380501234567", "Hi"))
            await sandbox.advance(5)  # simulated seconds
            receipt = await client.get_status(message_id)

Over real HTTP on loopback::

    async with Sandbox() as sandbox, sandbox.serve(port=0) as base_url:
        async with ViberClient("sandbox-key", base_url=base_url) as client:
            ...
"""

from decisiontelecom_async._errors import SandboxConnectionDropped
from decisiontelecom_async.sandbox._app import SandboxStats, SandboxTransport
from decisiontelecom_async.sandbox._callbacks import DeliveredCallback
from decisiontelecom_async.sandbox._config import SandboxConfig
from decisiontelecom_async.sandbox._faults import DropPhase
from decisiontelecom_async.sandbox._sandbox import Sandbox
from decisiontelecom_async.sandbox._state import SandboxClock, SandboxMessage

__all__ = [
    "DeliveredCallback",
    "DropPhase",
    "Sandbox",
    "SandboxClock",
    "SandboxConfig",
    "SandboxConnectionDropped",
    "SandboxMessage",
    "SandboxStats",
    "SandboxTransport",
]
