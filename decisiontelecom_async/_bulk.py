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
  is sent (the guard in ``BaseClient._send_once`` refuses any attempt of a
  stopped run, retries included), and every input not sent, the rest of the
  input included, gets a :class:`CampaignAborted` outcome naming the cause.
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
import contextvars
import copy
import inspect
import logging
import time
import weakref
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from decisiontelecom_async._errors import (
    AuthenticationError,
    CampaignAborted,
    DecisionTelecomError,
    FieldProblem,
    InsufficientBalanceError,
    RateLimitError,
    SharedLimitError,
    SmsApiError,
    TransportError,
    ValidationError,
)
from decisiontelecom_async._progress import BulkProgress, ProgressHook

if TYPE_CHECKING:
    from decisiontelecom_async._base_client import BaseClient

__all__ = [
    "BulkRun",
    "StatusOutcome",
    "check_bulk_guard",
    "check_concurrency",
    "check_item_type",
    "note_failed_attempt",
    "run_bulk",
    "stop_bulk_runs",
    "stops_run",
]

logger = logging.getLogger("decisiontelecom_async")

_I = TypeVar("_I")
_R = TypeVar("_R")
_O = TypeVar("_O")

OutcomeFactory = Callable[[int, _I, "_R | None", "DecisionTelecomError | None", int], _O]
"""Builds the outcome of one input: ``(index, item, result, error, attempts)``."""


@attrs.frozen
class StatusOutcome(Generic[_R]):
    """What became of one message id of ``get_statuses`` or ``wait_for_final_statuses``.

    Bulk look-ups yield exactly one outcome for every id, in completion
    order; :attr:`index` is the id's position in the input.
    """

    index: int
    """The id's position in what was handed to the bulk call (from 0)."""
    message_id: int
    """The id looked up, as given."""
    receipt: _R | None = None
    """The status found: a :class:`MessageReceipt` for Viber, an :class:`SmsStatus`
    for SMS. After a :class:`StatusTimeoutError` it is the last status seen
    (``None`` when none was)."""
    error: DecisionTelecomError | None = None
    """Why the look-up failed (:class:`CampaignAborted` if the run stopped first,
    :class:`StatusTimeoutError` if the status was not final in time)."""
    attempts: int = 0
    """How many requests were made for it (0 when none was)."""

    @property
    def ok(self) -> bool:
        """Whether the status was read (and, when waiting, is final)."""
        return self.error is None


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


class _Aborted(CampaignAborted):
    """Raised inside a stopped run: an attempt refused, or a wait cut short."""


class _Worker:
    """What a worker task of a run carries in its context."""

    __slots__ = ("last_error", "run", "sent")

    def __init__(self, run: _Run[Any, Any, Any]) -> None:
        self.run = run
        self.sent = 0
        """Requests let out for the current input."""
        self.last_error: DecisionTelecomError | None = None
        """The error of the current input's last failed attempt, when the client told."""


# The worker the calling task is. Each worker sets it in its own context, so
# the client can refuse attempts of a stopped run and count the requests of
# an input without any change to the signatures between the run and a request.
_current_worker: contextvars.ContextVar[_Worker | None] = contextvars.ContextVar(
    "decisiontelecom_async_bulk_worker", default=None
)

# The runs in progress of each client, so that closing the client stops them.
_runs_of: weakref.WeakKeyDictionary[BaseClient, set[_Run[Any, Any, Any]]] = (
    weakref.WeakKeyDictionary()
)


def check_bulk_guard() -> None:
    """Refuse to start a request for a bulk run that has stopped.

    The client calls it right before a request goes out, after the rate
    limit and the concurrency bound let it through; outside a run it does
    nothing.
    """
    worker = _current_worker.get()
    if worker is not None:
        if worker.run.halted:
            raise _Aborted(worker.run.cause, reason=worker.run.abort_reason)
        worker.sent += 1


def note_failed_attempt(error: DecisionTelecomError, _wait: float = 0.0) -> None:
    """Remember the error of an attempt about to be retried (an ``on_retry`` hook).

    If the run stops while the input waits for that retry, its outcome is this
    error (the request went out; it may have been delivered) rather than
    :class:`CampaignAborted`. Outside a run it does nothing.
    """
    worker = _current_worker.get()
    if worker is not None:
        worker.last_error = error


async def bulk_sleep(sleep: Callable[[float], Awaitable[None]], seconds: float) -> None:
    """``await sleep(seconds)``, cut short by :class:`CampaignAborted` if the run stops.

    The client sleeps through this (retry backoff, the shared 429 pause), so
    a run that stops does not wait for its sleepers to wake before it ends.
    """
    worker = _current_worker.get()
    if worker is None:
        await sleep(seconds)
    else:
        await worker.run.sleep_or_abort(sleep, seconds)


def stop_bulk_runs(client: BaseClient) -> None:
    """Cancel every bulk run of ``client`` (it is being closed)."""
    for run in list(_runs_of.get(client, ())):
        run.cancel(
            RuntimeError(
                f"the {type(client).__name__} was closed during a bulk run; "
                "drain() hands out the outcomes it holds"
            )
        )


class _Run(Generic[_I, _R, _O]):
    """The state of one bulk run: its input, workers, outcomes and counts."""

    def __init__(
        self,
        client: BaseClient,
        items: Iterable[_I] | AsyncIterable[_I],
        call: Callable[[_I], Awaitable[tuple[_R, int]]],
        outcome: OutcomeFactory[_I, _R, _O],
        *,
        workers: int,
        stops: Callable[[DecisionTelecomError], bool],
        progress: ProgressHook | None,
        progress_interval: float,
        name: str,
        writes: bool = False,
    ) -> None:
        self._client = client
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
        self.cause: DecisionTelecomError | None = None
        """The error that stopped the run, once one did."""
        self.input_error: BaseException | None = None
        """What the input raised, to be raised once the outcomes are out."""
        self.failure: BaseException | None = None
        """What ends the run (a bug, an error of a call that is not the SDK's), raised
        once the inputs already taken have finished and their outcomes are out."""
        self.cancelled: BaseException | None = None
        """What ends the run at once (the client was closed), raised without waiting."""
        self._hook_failed = False
        self._stopped = asyncio.Event()
        self._stop_requested = False
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

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        self._started = time.monotonic()
        _runs_of.setdefault(self._client, set()).add(self)
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
    def halted(self) -> bool:
        """Whether nothing new may be sent: an error stopped the run, or the caller did."""
        return self.cause is not None or self._stop_requested

    @property
    def abort_reason(self) -> str | None:
        """The text of the :class:`CampaignAborted` of inputs the caller's stop kept back."""
        if self.cause is None and self._stop_requested:
            return "not sent: the run was stopped by the caller"
        return None

    def stop(self) -> None:
        """Send nothing new; let requests out settle; abort the rest of the input."""
        if not self.halted:
            self._stop_requested = True
            self._stopped.set()
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
        runs = _runs_of.get(self._client)
        if runs is not None:
            runs.discard(self)
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
        if self.cause is not None:
            return
        self.cause = cause
        self._stopped.set()
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
        self.ready.append(outcome)
        self.wake()

    async def _work(self) -> None:
        worker = _Worker(self)
        _current_worker.set(worker)
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

    async def _do(self, worker: _Worker, index: int, item: _I) -> None:
        """Produce the outcome of one input."""
        make = self._outcome
        error: DecisionTelecomError
        if self.halted:
            error = CampaignAborted(self.cause, reason=self.abort_reason)
            self._emit(make(index, item, None, error, 0), error, 0)
            return
        self._active += 1
        worker.sent = 0
        worker.last_error = None
        try:
            result, attempts = await self._call(item)
        except _Aborted as exc:
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

    def _cut_short(self, worker: _Worker) -> DecisionTelecomError:
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
    def _sent_but_stopped(worker: _Worker, aborted: _Aborted) -> DecisionTelecomError:
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

    async def sleep_or_abort(
        self, sleep: Callable[[float], Awaitable[None]], seconds: float
    ) -> None:
        """Sleep ``seconds``; raise :class:`_Aborted` as soon as the run stops."""
        if not self.halted:
            sleeper = asyncio.ensure_future(sleep(seconds))
            stopper = asyncio.ensure_future(self._stopped.wait())
            try:
                await asyncio.wait((sleeper, stopper), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for future in (sleeper, stopper):
                    future.cancel()
                await asyncio.wait((sleeper, stopper))
        if self.halted:
            raise _Aborted(self.cause, reason=self.abort_reason)

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


class BulkRun(AsyncGenerator[_O, None]):
    """What ``send_many``, ``get_statuses`` and ``wait_for_final_statuses`` return.

    An async iterator of outcomes in completion order (and an async
    generator: ``aclose()``, :func:`contextlib.aclosing` work as before), an
    async context manager that closes it, and the keeper of every outcome it
    has not handed out yet::

        async with client.send_many(messages) as outcomes:
            async for outcome in outcomes:
                if stop_now():
                    break
            async for outcome in outcomes.drain():
                ...  # the rest: one outcome for every input left

    How a consumer that stops early still gets everything:

    * :meth:`drain` on a run still going stops it the careful way (as
      :meth:`stop`): nothing new is sent, the requests out settle (accepted
      ones with their ``message_id``), and it yields those, then a
      :class:`CampaignAborted` outcome (``cause`` ``None``) for every input
      not sent, the rest of the input included. With it, every input still
      gets exactly one outcome.
    * After the run was closed (``aclose()``, leaving ``async with``, a
      cancelled consuming task, the client closed), :meth:`drain` yields what
      the run held at that moment: outcomes settled and not handed out, an
      unknown outcome (:class:`TransportError` with ``outcome_unknown``) for
      each request that was out, and :class:`CampaignAborted` for inputs
      taken but not sent. The rest of the input is not read.
    * A run dropped with outcomes nobody can drain any more logs a WARNING
      listing the accepted message ids.
    """

    def __init__(
        self,
        run: _Run[Any, Any, _O],
        holding: contextlib.AbstractAsyncContextManager[object] | None = None,
    ) -> None:
        self._run = run
        self._outcomes = _iterate(run, holding)
        run.owner = weakref.ref(self)

    def __aiter__(self) -> BulkRun[_O]:
        return self

    async def __anext__(self) -> _O:
        return await self._outcomes.__anext__()

    async def asend(self, value: None) -> _O:
        return await self._outcomes.asend(value)

    async def athrow(self, typ: Any, val: Any = None, tb: TracebackType | None = None, /) -> _O:
        return await self._outcomes.athrow(typ, val, tb)

    async def aclose(self) -> None:
        """Stop the run at once; what it holds stays for :meth:`drain`."""
        await self._outcomes.aclose()
        await self._run.close()

    async def __aenter__(self) -> BulkRun[_O]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def stop(self) -> None:
        """Send nothing new; the iteration goes on and ends with every outcome.

        Requests already out settle and their outcomes are handed out; every
        input not sent, the rest of the input included, gets a
        :class:`CampaignAborted` outcome whose ``cause`` is ``None``. Safe to
        call from a signal handler (it only sets flags).
        """
        self._run.stop()

    async def drain(self) -> AsyncIterator[_O]:
        """Yield every outcome not handed out yet; see the class docstring.

        Each outcome is handed out once: by the iteration or by ``drain()``.
        """
        run = self._run
        if not run.closed and run.cancelled is None:
            run.stop()
            async for outcome in self._outcomes:
                yield outcome
        await self.aclose()
        while run.ready:
            yield run.ready.popleft()

    def __del__(self) -> None:
        run = getattr(self, "_run", None)
        if run is not None and run.closed and run.ready:
            run.warn_unclaimed()


async def _iterate(
    run: _Run[Any, Any, _O], holding: contextlib.AbstractAsyncContextManager[object] | None
) -> AsyncGenerator[_O, None]:
    """Hand out the outcomes of ``run`` as they come; raise what ended it, after them.

    ``holding`` (a journal in use, say) is entered before the run starts and
    left only after it is closed, every outcome it made already built.
    """
    async with holding if holding is not None else contextlib.nullcontext():
        async for outcome in _hand_out(run):
            yield outcome


async def _hand_out(run: _Run[Any, Any, _O]) -> AsyncGenerator[_O, None]:
    run.start()
    ready = run.ready
    try:
        while True:
            if run.cancelled is not None:
                # A fresh copy each time: the one kept on the run never holds a
                # traceback (and through it this run's frames).
                raise copy.copy(run.cancelled)
            if ready:
                yield run.hand_out()
            elif run.alive:
                await run.wait()
            else:
                break
        # Every outcome produced is out; only now say why the run ended early.
        if run.failure is not None:
            raise run.failure
        if run.input_error is not None:
            raise run.input_error
        await run.finish()
    finally:
        await run.close()


def run_bulk(
    client: BaseClient,
    items: Iterable[_I] | AsyncIterable[_I],
    call: Callable[[_I], Awaitable[tuple[_R, int]]],
    outcome: OutcomeFactory[_I, _R, _O],
    *,
    workers: int,
    stops: Callable[[DecisionTelecomError], bool] = stops_run,
    progress: ProgressHook | None = None,
    progress_interval: float = 0.5,
    name: str = "bulk run",
    writes: bool = False,
    holding: contextlib.AbstractAsyncContextManager[object] | None = None,
) -> BulkRun[_O]:
    """Do ``call`` for every input with ``workers`` workers; yield outcomes as they finish.

    ``call(item)`` returns ``(result, attempts)`` or raises a
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
    )
    return BulkRun(run, holding)
