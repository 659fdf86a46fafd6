"""What ``send_many``, ``get_statuses`` and ``wait_for_final_statuses`` return.

:class:`BulkRun` hands out the outcomes of a run of the engine
(:mod:`._bulk`) as they come, and keeps the ones not handed out for
:meth:`BulkRun.drain`.
"""

from __future__ import annotations

import contextlib
import copy
import weakref
from collections.abc import AsyncGenerator, AsyncIterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from decisiontelecom_async._bulk import _Run
    from decisiontelecom_async._errors import DecisionTelecomError
    from decisiontelecom_async._telemetry._spans import RunSpan

__all__ = ["BulkRun"]

_O = TypeVar("_O")


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

    @property
    def stopped_by(self) -> DecisionTelecomError | None:
        """The error that stopped the run, once one did; ``None`` otherwise.

        Set by an error that stops every run (an empty balance, a refused
        key) or by the ``stop_when`` rule, also when no input was left to
        get a :class:`CampaignAborted` naming it. ``None`` for a run that was
        not stopped, or that :meth:`stop` or a ``stop_when`` rule stopped on
        an outcome without an error.
        """
        return self._run.cause

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


def _traced(run: _Run[Any, Any, _O]) -> RunSpan | None:
    """The run's span, which counts its outcomes (the otel extra, configured), or None."""
    # getattr: the engine's own tests drive it for stand-ins of a client.
    telemetry = getattr(run._client, "_telemetry", None)  # noqa: SLF001 - the engine's
    if telemetry is not None:
        run.traced = telemetry.run(run._name, writes=run._writes)  # noqa: SLF001 - the engine's
    return run.traced


async def _hand_out(run: _Run[Any, Any, _O]) -> AsyncGenerator[_O, None]:
    traced = _traced(run)
    if traced is None:
        run.start()
    else:
        # Each task copies the context it is made in: with the run's span
        # current, the workers' requests are its children.
        with traced:
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
        if traced is not None:
            traced.end(run.cause)
