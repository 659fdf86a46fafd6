"""Waiting for a final status: poll with backoff until it is final or time is up."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from decisiontelecom_async._bulk import BulkRun, check_concurrency, run_bulk, stops_run
from decisiontelecom_async._bulk_calls import check_bulk_input, check_progress
from decisiontelecom_async._errors import DecisionTelecomError, StatusTimeoutError
from decisiontelecom_async._models import StatusOutcome
from decisiontelecom_async._progress import ProgressHook

if TYPE_CHECKING:
    from decisiontelecom_async._base_client import BaseClient
    from decisiontelecom_async._http._guard import RunGuard


__all__ = [
    "DEFAULT_WATCHED",
    "StatusTimeoutError",  # lives in _errors; kept importable from here
    "check_poll_args",
    "poll_until_final",
    "wait_for_final_status_of",
    "wait_for_final_statuses_of",
]

DEFAULT_WATCHED = 1000
"""How many ids ``wait_for_final_statuses`` watches at once by default.

Watching an id costs a sleeping coroutine, not a connection: the requests
themselves stay bounded by the client's ``max_concurrency``.
"""

_R = TypeVar("_R")

LookUp = Callable[[int, "RunGuard | None"], Awaitable[tuple[_R, int]]]
"""Reads one status: ``get_one(message_id, guard)`` returns ``(status, attempts)``."""

_BACKOFF = 1.5
_JITTER = 0.1
_FINAL_LOOK_UP = 1.0
"""The most seconds the look-up made at the deadline is given (less when polling faster)."""


def check_poll_args(timeout: float, poll_interval: float, max_poll_interval: float) -> None:
    """Refuse a timeout or poll interval that is not a positive number."""
    for name, value in (
        ("timeout", timeout),
        ("poll_interval", poll_interval),
        ("max_poll_interval", max_poll_interval),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            msg = f"{name} must be a number of seconds > 0, got {value!r}"
            raise ValueError(msg)
    if max_poll_interval < poll_interval:
        msg = (
            f"max_poll_interval ({max_poll_interval!r}) must not be less than "
            f"poll_interval ({poll_interval!r})"
        )
        raise ValueError(msg)


async def poll_until_final(
    message_id: int,
    fetch: Callable[[], Awaitable[tuple[_R, int]]],
    is_final: Callable[[_R], bool],
    *,
    timeout: float,  # noqa: ASYNC109 - reported in the error; ``deadline`` is what counts
    deadline: float,
    poll_interval: float,
    max_poll_interval: float,
    sleep: Callable[[float], Awaitable[None]],
    clock: Callable[[], float],
) -> tuple[_R, int]:
    """Call ``fetch`` until ``is_final`` says so; return the status and the requests made.

    The wait between look-ups starts at ``poll_interval`` and grows by half
    each time (with a little jitter, so many waits do not line up) up to
    ``max_poll_interval``. The last look-up happens at the deadline, so the
    status reported is as fresh as it can be. An error of a look-up (after
    the client's retries) is raised with the requests of every look-up
    counted; a status not final at ``deadline`` (on ``clock``) raises
    :class:`StatusTimeoutError` naming ``timeout``.

    Each look-up, the client's retries and their waits included, is bounded
    by the time left (the one at the deadline by at most ``poll_interval``,
    and never more than a second): a look-up still running then is cancelled
    and :class:`StatusTimeoutError` raised with the last status read.
    """
    interval = poll_interval
    attempts = 0
    last: _R | None = None
    final_look_up = min(poll_interval, _FINAL_LOOK_UP)
    while True:
        bound = asyncio.timeout(max(deadline - clock(), final_look_up))
        try:
            async with bound:
                last, made = await fetch()
        except DecisionTelecomError as exc:
            exc.attempts += attempts
            raise
        except TimeoutError:
            if not bound.expired():
                raise
            # The look-up ran past the deadline and was cancelled.
            raise StatusTimeoutError(message_id, last, timeout=timeout, attempts=attempts) from None
        attempts += made
        if is_final(last):
            return last, attempts
        remaining = deadline - clock()
        if remaining <= 0:
            raise StatusTimeoutError(message_id, last, timeout=timeout, attempts=attempts)
        wait = interval * random.uniform(1 - _JITTER, 1 + _JITTER)  # noqa: S311 - not crypto
        await sleep(min(wait, remaining))
        interval = min(interval * _BACKOFF, max_poll_interval)


async def wait_for_final_status_of(
    client: BaseClient,
    message_id: int,
    get_one: LookUp[_R],
    is_final: Callable[[_R], bool],
    *,
    timeout: float,  # noqa: ASYNC109 - the public name; it also bounds the sleeps between polls
    poll_interval: float,
    max_poll_interval: float,
) -> _R:
    """A client's ``wait_for_final_status``: poll ``get_one`` until final or ``timeout``."""
    check_poll_args(timeout, poll_interval, max_poll_interval)
    status, _ = await poll_until_final(
        message_id,
        lambda: get_one(message_id, None),
        is_final,
        timeout=timeout,
        deadline=client._now() + timeout,  # noqa: SLF001 - the client's clock
        poll_interval=poll_interval,
        max_poll_interval=max_poll_interval,
        sleep=client._sleep_now,  # noqa: SLF001 - the client's sleep
        clock=client._now,  # noqa: SLF001
    )
    return status


def _status_outcome(
    index: int,
    message_id: int,
    status: _R | None,
    error: DecisionTelecomError | None,
    attempts: int,
) -> StatusOutcome[_R]:
    if status is None and isinstance(error, StatusTimeoutError):
        status = error.receipt
    return StatusOutcome(index, message_id, status, error, attempts)


def wait_for_final_statuses_of(
    client: BaseClient,
    message_ids: Iterable[int] | AsyncIterable[int],
    get_one: LookUp[_R],
    is_final: Callable[[_R], bool],
    *,
    timeout: float,
    concurrency: int | None,
    poll_interval: float,
    max_poll_interval: float,
    progress: ProgressHook | None,
    progress_interval: float,
    stops: Callable[[DecisionTelecomError], bool] = stops_run,
    name: str = "wait_for_final_statuses",
) -> BulkRun[StatusOutcome[_R]]:
    """A client's ``wait_for_final_statuses``: one poller per watched id, one deadline.

    ``timeout`` counts from the first outcome requested; an id still not
    final then (or taken from the input after it, and not final at its one
    look-up) gets a :class:`StatusTimeoutError` outcome carrying its last
    status. ``concurrency`` is how many ids are watched at once (default
    :data:`DEFAULT_WATCHED`); it may exceed ``max_concurrency``, which still
    bounds the requests.
    """
    check_bulk_input(message_ids, what=f"{name}()")
    check_poll_args(timeout, poll_interval, max_poll_interval)
    workers = check_concurrency(concurrency, default=DEFAULT_WATCHED, cap=None)
    check_progress(progress, progress_interval)
    client._ensure_usable()  # noqa: SLF001 - the engine is part of the client
    deadline: list[float] = []

    async def watch(message_id: int, guard: RunGuard) -> tuple[_R, int]:
        if not deadline:
            deadline.append(client._now() + timeout)  # noqa: SLF001 - the client's clock
        return await poll_until_final(
            message_id,
            lambda: get_one(message_id, guard),
            is_final,
            timeout=timeout,
            deadline=deadline[0],
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            # The run's stop cuts the waits between look-ups short.
            sleep=guard.sleeper(client._sleep_now),  # noqa: SLF001 - the client's sleep
            clock=client._now,  # noqa: SLF001
        )

    return run_bulk(
        client,
        message_ids,
        watch,
        _status_outcome,
        workers=workers,
        stops=stops,
        progress=progress,
        progress_interval=progress_interval,
        name=name,
    )
