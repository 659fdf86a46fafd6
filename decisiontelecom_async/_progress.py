"""Running counts of a bulk run, handed to a progress hook at a bounded rate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs

__all__ = ["BulkProgress", "ProgressHook"]


@attrs.frozen
class BulkProgress:
    """A snapshot of a bulk run, as the ``progress`` hook receives it.

    ::

        def show(p: BulkProgress) -> None:
            print(f"{p.done} done, {p.failed} failed, {p.rate:.0f}/s", end="\\r")


        async for outcome in client.send_many(messages, progress=show):
            ...

    ``ok + failed == done``; :attr:`aborted` counts the failures that are
    :class:`CampaignAborted` (inputs not sent because the run stopped).
    """

    done: int
    """Outcomes produced so far."""
    ok: int
    """Outcomes without an error."""
    failed: int
    """Outcomes with an error (aborted ones included)."""
    aborted: int
    """Outcomes whose error is :class:`CampaignAborted`."""
    retried: int
    """Requests repeated so far (attempts beyond the first, over finished inputs)."""
    in_flight: int
    """Inputs of this run being worked on right now."""
    elapsed: float
    """Seconds since the run started."""
    rate: float
    """Outcomes per second since the run started."""
    final: bool = False
    """Whether this is the last call: the run has handed out every outcome."""


ProgressHook = Callable[[BulkProgress], Awaitable[None] | None]
"""A plain or async callable that receives :class:`BulkProgress` snapshots."""
