"""Bulk runs: a fixed pool of workers over a lazily read input.

:func:`run_bulk` is the engine behind ``send_many``, ``get_statuses`` and
``wait_for_final_statuses`` of every client. It takes any iterable or async
iterable and "an async function doing one item and returning
``(result, attempts)``", and is an async generator of outcomes in completion
order, one for every input.

How it holds its promises:

* Constant memory. ``workers`` tasks pull from the input one item at a time;
  a worker takes a *slot* before it pulls and the slot comes back only when
  the consumer is handed that item's outcome, so at most ``workers`` items
  are ever pulled ahead of the outcomes handed out, however long the input.
* Exactly one outcome per input. An error of the service or of the item is
  that item's outcome. An error that :func:`stops_run` (empty balance,
  refused credentials) stops the run: requests in flight finish, nothing new
  is sent (the :class:`RunGuard` the run hands down to every request
  refuses any attempt of a stopped run, retries included), and every input
  not sent, the rest of the input included, gets a :class:`CampaignAborted`
  outcome naming the cause.
  An input for which a request already went out never gets
  :class:`CampaignAborted` (it may have been delivered): a retry cut short
  by the stop reports the error of its last attempt instead.
* Outcomes are never thrown away. Any other exception (a bug, an error of
  the input) stops the run too: nothing new is taken from the input, the
  inputs already taken finish, every outcome produced is handed out, and
  only then is the exception raised. A progress hook that raises is logged
  and the run goes on: it only watches.
* Nothing left behind, nothing thrown away. Leaving the ``async for``
  early, ``aclose()``, cancelling the consuming task, or closing the client
  cancels the workers and waits for them; no task outlives the run. A
  worker cancelled with a request out records that input as unknown
  (:class:`TransportError` with ``outcome_unknown``), one cancelled before
  its request left records :class:`CampaignAborted`, and every outcome
  settled and not handed out stays on the :class:`BulkRun` for
  :meth:`BulkRun.drain`. :meth:`BulkRun.stop` (and ``drain()`` on a live
  run) stops the careful way instead: nothing new is sent, requests out
  settle, and the rest of the input gets :class:`CampaignAborted`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from typing import TYPE_CHECKING, Generic, TypeVar

from decisiontelecom_async._bulk_run import BulkRun
from decisiontelecom_async._errors import (
    AuthenticationError,
    CampaignAborted,
    DecisionTelecomError,
    FieldProblem,
    InsufficientBalanceError,
    RateLimitError,
    RunStopped,
    SharedLimitError,
    SmsApiError,
    TransportError,
    ValidationError,
)
from decisiontelecom_async._http._guard import RunGuard, StopSignal
from decisiontelecom_async._progress import BulkProgress, ProgressHook

if TYPE_CHECKING:
    from decisiontelecom_async._base_client import BaseClient
    from decisiontelecom_async._telemetry._spans import RunSpan

__all__ = [
    "BulkRun",
    "ItemCall",
    "check_concurrency",
    "check_item_type",
    "run_bulk",
    "stops_run",
]

logger = logging.getLogger("decisiontelecom_async")

_I = TypeVar("_I")
_R = TypeVar("_R")
_O = TypeVar("_O")

OutcomeFactory = Callable[[int, _I, "_R | None", "DecisionTelecomError | None", int], _O]
"""Builds the outcome of one input: ``(index, item, result, error, attempts)``."""

ItemCall = Callable[[_I, RunGuard], Awaitable[tuple[_R, int]]]
"""Does one input: ``call(item, guard)`` returns ``(result, attempts)``.

``guard`` goes down to every request the call makes (``_request(...,
guard=guard)``): it refuses requests once the run stopped, cuts the call's
sleeps short, and counts what left.
"""


def stops_run(exc: DecisionTelecomError) -> bool:
    """Whether ``exc`` stops a whole bulk run instead of failing one input.

    An empty balance (402, or the SMS API's code 49), refused credentials
    (401/403, or the SMS API's login errors) and a 429 whose ``Retry-After``
    is longer than the policy will wait would fail every later request the
    same way, so the run stops; so does a shared rate limit whose store
    cannot be reached (:class:`SharedLimitError`). Anything else (400, a validation error,
    a server error after retries) belongs to its own input.
    """
    if isinstance(exc, InsufficientBalanceError | AuthenticationError):
        return True
    if isinstance(exc, SharedLimitError):
        # No leave to send from the shared limit: sending on would break it.
        return True
    if isinstance(exc, RateLimitError) and exc.wait_refused:
        # The service asked the client to wait longer than it will: every
        # later request would be refused alike until then.
        return True
    return isinstance(exc, SmsApiError) and (exc.is_balance_empty or exc.is_authentication_failure)


def check_concurrency(concurrency: int | None, *, default: int, cap: int | None) -> int:
    """The number of workers for a run: ``concurrency`` checked, narrowed to ``cap``."""
    if concurrency is None:
        concurrency = default
    elif isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        msg = f"concurrency must be an int >= 1 or None, got {concurrency!r}"
        raise ValueError(msg)
    return concurrency if cap is None else min(concurrency, cap)


def check_item_type(item: object, expected: type[_I], *, field: str = "message") -> _I:
    """Return ``item`` if it is an ``expected``; else raise a :class:`ValidationError`.

    A bulk run turns that error into the item's own outcome.
    """
    if isinstance(item, expected):
        return item
    problem = FieldProblem(field, f"expected a {expected.__name__}, got {type(item).__name__}")
    raise ValidationError([problem], subject="input")


class _Run(Generic[_I, _R, _O]):
    """The state of one bulk run: its input, workers, outcomes and counts."""

    def __init__(
        self,
        client: BaseClient,
        items: Iterable[_I] | AsyncIterable[_I],
        call: ItemCall[_I, _R],
        outcome: OutcomeFactory[_I, _R, _O],
        *,
        workers: int,
        stops: Callable[[DecisionTelecomError], bool],
        progress: ProgressHook | None,
        progress_interval: float,
        name: str,
        writes: bool = False,
        stop_when: Callable[[_O], bool] | None = None,
    ) -> None:
        self._client = client
        self._stop_when = stop_when
        self._writes = writes
        self._sync_items: Iterator[_I] | None = None
        self._async_items: AsyncIterator[_I] | None = None
        if isinstance(items, AsyncIterable):
            self._async_items = aiter(items)
        else:
            self._sync_items = iter(items)
        self._pull_lock = asyncio.Lock()
        self._call = call
        self._outcome = outcome
        self._workers = workers
        self._stops = stops
        self._progress = progress
        self._progress_interval = progress_interval
        self._name = name

        self._slots = asyncio.Semaphore(workers)
        self.ready: deque[_O] = deque()
        """Outcomes not yet handed out (at most ``workers``)."""
        self._wakeup: asyncio.Future[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.alive = 0
        """Workers still running."""
        self._spawned = 0
        self._next_index = 0
        self._exhausted = False
        self.signal = StopSignal()
        """Whether the run may still send; handed down to every request (_http/_guard.py)."""
        self.input_error: BaseException | None = None
        """What the input raised, to be raised once the outcomes are out."""
        self.failure: BaseException | None = None
        """What ends the run (a bug, an error of a call that is not the SDK's), raised
        once the inputs already taken have finished and their outcomes are out."""
        self.cancelled: BaseException | None = None
        """What ends the run at once (the client was closed), raised without waiting."""
        self._hook_failed = False
        self.closed = False
        """Whether :meth:`close` ran: the workers are gone, :attr:`ready` holds the rest."""
        self.owner: Callable[[], object] | None = None
        """A weak reference to the :class:`BulkRun` that hands the outcomes out."""

        self._started = 0.0
        self._done = 0
        self._ok = 0
        self._aborted = 0
        self._retried = 0
        self._active = 0
        self.traced: RunSpan | None = None  # its span and counts (_bulk_run._traced)

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        self._started = time.monotonic()
        # Closing the client cancels the runs it holds.
        self._client._live_runs.add(self)  # noqa: SLF001 - the engine is part of the client
        self._spawn()
        if self._progress is not None:
            self._tasks.append(
                asyncio.create_task(self._tick(self._progress), name=f"{self._name}-progress")
            )
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s started with %d workers", self._name, self._workers)

    def _spawn(self) -> None:
        # Workers start one per input taken until there are ``workers`` of
        # them: a short input does not start a pool it has no use for.
        self._tasks.append(
            asyncio.create_task(self._work(), name=f"{self._name}-worker-{self.alive}")
        )
        self.alive += 1
        self._spawned += 1

    @property
    def cause(self) -> DecisionTelecomError | None:
        """The error that stopped the run, once one did."""
        return self.signal.cause

    @property
    def halted(self) -> bool:
        """Whether nothing new may be sent: an error stopped the run, or the caller did."""
        return self.signal.halted

    @property
    def abort_reason(self) -> str | None:
        """The text of the :class:`CampaignAborted` of inputs the caller's stop kept back."""
        return self.signal.reason

    def stop(self) -> None:
        """Send nothing new; let requests out settle; abort the rest of the input."""
        if self.signal.request_stop():
            logger.info("%s stopped by the caller; inputs not sent get CampaignAborted", self._name)

    def cancel(self, reason: BaseException) -> None:
        """Stop at once: cancel every worker; the consumer raises ``reason``."""
        if self.cancelled is None:
            self.cancelled = reason
        for task in self._tasks:
            task.cancel()
        self.wake()

    async def close(self) -> None:
        """Cancel what still runs and wait for it; close an async input left unfinished."""
        if self.closed:
            return
        self._client._live_runs.discard(self)  # noqa: SLF001 - the engine is part of the client
        pending = [task for task in self._tasks if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            # Each worker records the input it had (unknown, or not sent) as it goes.
            await asyncio.wait(pending)
        self.closed = True
        if self.ready and (self.owner is None or self.owner() is None):
            # Nobody can drain() them any more: at least say what went out.
            self.warn_unclaimed()
        closer = getattr(self._async_items, "aclose", None)
        if closer is not None and not self._exhausted:
            try:
                await closer()
            except Exception:  # the caller's generator: its error is not the run's
                logger.debug("closing the input of %s failed", self._name, exc_info=True)

    async def finish(self) -> None:
        """Make the final progress call of a run that handed out every outcome."""
        if self._progress is not None:
            await self._report(self._progress, self.snapshot(final=True))
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s finished: %s", self._name, self.snapshot(final=True))

    # -- consumer side ----------------------------------------------------------

    def wake(self) -> None:
        waiter = self._wakeup
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Wait until an outcome is ready, a worker ends or the run fails."""
        self._wakeup = asyncio.get_running_loop().create_future()
        try:
            await self._wakeup
        finally:
            self._wakeup = None

    def warn_unclaimed(self) -> None:
        """Log the accepted ids of outcomes settled but never handed out, if any."""
        ids = [
            message_id
            for outcome in self.ready
            if getattr(outcome, "error", None) is None
            and (message_id := getattr(outcome, "message_id", None)) is not None
        ]
        unknown = sum(
            isinstance(error := getattr(outcome, "error", None), TransportError)
            and error.outcome_unknown
            for outcome in self.ready
        )
        if self._writes and (ids or unknown):
            logger.warning(
                "%s was dropped holding %d outcome(s) never handed out; "
                "accepted message ids: %s; %d request(s) with an unknown outcome",
                self._name,
                len(self.ready),
                ", ".join(map(str, ids)) or "none",
                unknown,
            )

    def hand_out(self) -> _O:
        """The next ready outcome; its slot goes back to the workers."""
        self._slots.release()
        return self.ready.popleft()

    # -- workers ---------------------------------------------------------------------

    def _stop_with(self, cause: DecisionTelecomError) -> None:
        if not self.signal.stop_with(cause):
            return
        logger.warning(
            "%s stopped after %s: %s; inputs not sent get CampaignAborted",
            self._name,
            type(cause).__name__,
            cause.message_text,
        )

    async def _pull(self) -> tuple[int, _I] | None:
        """The next input and its index, or None when there is none to take."""
        if self._exhausted or self.input_error is not None or self.failure is not None:
            return None
        try:
            if self._sync_items is not None:
                item = next(self._sync_items)
            else:
                async with self._pull_lock:
                    if self._exhausted or self.input_error is not None or self.failure is not None:
                        return None
                    assert self._async_items is not None  # noqa: S101 - set in __init__
                    item = await anext(self._async_items)
        except (StopIteration, StopAsyncIteration):
            self._exhausted = True
            return None
        except Exception as exc:  # noqa: BLE001 - the input's own error goes to the caller
            self.input_error = exc
            return None
        index = self._next_index
        self._next_index += 1
        return index, item

    def _emit(self, outcome: _O, error: DecisionTelecomError | None, attempts: int) -> None:
        self._done += 1
        if error is None:
            self._ok += 1
        elif isinstance(error, CampaignAborted):
            self._aborted += 1
        if attempts > 1:
            self._retried += attempts - 1
        if self.traced is not None:
            self.traced.outcome(outcome, error)
        self.ready.append(outcome)
        self.wake()
        if self._stop_when is not None and not self.halted and self.failure is None:
            self._ask_stop_when(outcome, error)

    def _ask_stop_when(self, outcome: _O, error: DecisionTelecomError | None) -> None:
        """Stop the run if the caller's rule says so; a rule that raises ends the run."""
        assert self._stop_when is not None  # noqa: S101 - checked by the caller
        try:
            stop = self._stop_when(outcome)
        except Exception as exc:  # the caller's bug: raised after the outcomes, as any other
            self.failure = exc
            logger.debug("the stop_when rule of %s failed", self._name, exc_info=exc)
            return
        if not stop:
            return
        if error is None or isinstance(error, CampaignAborted):
            self.signal.request_stop()
            logger.info("%s stopped by its stop_when rule", self._name)
        else:
            self._stop_with(error)

    async def _work(self) -> None:
        worker = RunGuard(self.signal)
        try:
            while True:
                await self._slots.acquire()
                pulled = await self._pull()
                if pulled is None:
                    self._slots.release()
                    return
                if self._spawned < self._workers:
                    self._spawn()
                await self._do(worker, *pulled)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            # A bug, not an outcome: nothing new is taken, the inputs already
            # taken finish, and the consumer raises it after their outcomes.
            if self.failure is None:
                self.failure = exc
                logger.debug("%s failed; finishing the inputs taken", self._name, exc_info=exc)
        finally:
            self.alive -= 1
            self.wake()

    async def _do(self, worker: RunGuard, index: int, item: _I) -> None:
        """Produce the outcome of one input."""
        make = self._outcome
        error: DecisionTelecomError
        if self.halted:
            error = CampaignAborted(self.cause, reason=self.abort_reason)
            self._emit(make(index, item, None, error, 0), error, 0)
            return
        self._active += 1
        worker.begin()
        try:
            result, attempts = await self._call(item, worker)
        except RunStopped as exc:
            if worker.sent == 0 or not self._writes:
                # Refused before any request went out (or a read, safe to
                # repeat, stopped between two look-ups).
                error = CampaignAborted(exc.cause, reason=self.abort_reason)
            else:
                # Stopped while waiting to retry: a request went out and may
                # have been delivered, so this is no "not sent".
                error = self._sent_but_stopped(worker, exc)
            self._emit(make(index, item, None, error, worker.sent), error, worker.sent)
        except DecisionTelecomError as exc:
            if self._stops(exc):
                self._stop_with(exc)
            self._emit(make(index, item, None, exc, exc.attempts), exc, exc.attempts)
        except asyncio.CancelledError:
            # The run is being closed (aclose, a cancelled consumer, the client
            # closed): the input still gets its outcome, kept for drain().
            error = self._cut_short(worker)
            self._emit(make(index, item, None, error, worker.sent), error, worker.sent)
            raise
        else:
            self._emit(make(index, item, result, None, attempts), None, attempts)
        finally:
            self._active -= 1

    def _cut_short(self, worker: RunGuard) -> DecisionTelecomError:
        """The outcome of an input whose worker was cancelled."""
        if worker.sent == 0 or not self._writes:
            return CampaignAborted(
                self.cause, reason="not sent: the run was closed before its request left"
            )
        return TransportError(
            "cut short: the run was closed while the request was out; it may have been delivered",
            outcome_unknown=True,
            attempts=worker.sent,
        )

    @staticmethod
    def _sent_but_stopped(worker: RunGuard, aborted: RunStopped) -> DecisionTelecomError:
        """The outcome of a write whose retry the stop cut short: never "not sent"."""
        error = worker.last_error
        if error is None:
            # The client did not say what the last attempt met: say what is known.
            cause = aborted.cause
            stopped_by = "" if cause is None else f" after {type(cause).__name__}"
            error = TransportError(
                f"not retried: the run stopped{stopped_by}; the request already made "
                "may have been delivered",
                outcome_unknown=True,
            )
        error.attempts = worker.sent
        return error

    # -- progress --------------------------------------------------------------------

    def snapshot(self, *, final: bool = False) -> BulkProgress:
        """The run's counts now."""
        elapsed = max(time.monotonic() - self._started, 1e-9)
        return BulkProgress(
            done=self._done,
            ok=self._ok,
            failed=self._done - self._ok,
            aborted=self._aborted,
            retried=self._retried,
            in_flight=self._active,
            elapsed=elapsed,
            rate=self._done / elapsed,
            final=final,
        )

    async def _tick(self, hook: ProgressHook) -> None:
        while True:
            await asyncio.sleep(self._progress_interval)
            await self._report(hook, self.snapshot())

    async def _report(self, hook: ProgressHook, progress: BulkProgress) -> None:
        """Call the hook; an error of it is logged, not raised: the hook only watches."""
        try:
            await _call_hook(hook, progress)
        except asyncio.CancelledError:
            raise
        except Exception:
            if self._hook_failed:
                logger.debug("the progress hook of %s failed again", self._name, exc_info=True)
            else:
                self._hook_failed = True
                logger.exception(
                    "the progress hook of %s failed; the run goes on without it", self._name
                )


async def _call_hook(hook: ProgressHook, progress: BulkProgress) -> None:
    result = hook(progress)
    if inspect.isawaitable(result):
        await result


def run_bulk(
    client: BaseClient,
    items: Iterable[_I] | AsyncIterable[_I],
    call: ItemCall[_I, _R],
    outcome: OutcomeFactory[_I, _R, _O],
    *,
    workers: int,
    stops: Callable[[DecisionTelecomError], bool] = stops_run,
    progress: ProgressHook | None = None,
    progress_interval: float = 0.5,
    name: str = "bulk run",
    writes: bool = False,
    stop_when: Callable[[_O], bool] | None = None,
    holding: contextlib.AbstractAsyncContextManager[object] | None = None,
) -> BulkRun[_O]:
    """Do ``call`` for every input with ``workers`` workers; yield outcomes as they finish.

    ``call(item, guard)`` returns ``(result, attempts)`` or raises a
    :class:`DecisionTelecomError`, which becomes the item's outcome (and
    stops the run when ``stops(error)``). ``outcome(index, item, result,
    error, attempts)`` builds what is yielded. Any other exception from
    ``call`` or the input ends the run: nothing more is taken from the input,
    the inputs already taken finish, their outcomes are handed out, and then
    the exception is raised. An exception of the progress hook is logged and
    the run goes on. Closing the client ends the run at once; what it held
    stays for :meth:`BulkRun.drain`.

    ``writes`` says that ``call`` sends something that must not go out twice:
    an input whose retry a stop cut short then gets the error of its last
    attempt, not :class:`CampaignAborted` (which promises "not sent").
    ``holding`` is entered when the run starts and left after it ends.

    ``stop_when(outcome)``, if given, is asked about each outcome as it
    settles, until the run stops: when it returns true the run stops as for
    an error that :func:`stops_run` (with that outcome's error as the cause;
    none for an outcome without one). If it raises, the run ends as for any
    other exception.

    Nothing starts before the first ``__anext__`` (or ``drain()``): check the
    arguments before calling this (see :mod:`._bulk_calls`).
    """
    run = _Run(
        client,
        items,
        call,
        outcome,
        workers=workers,
        stops=stops,
        progress=progress,
        progress_interval=progress_interval,
        name=name,
        writes=writes,
        stop_when=stop_when,
    )
    return BulkRun(run, holding)
