"""The spans (and the metrics recorded with them) of one attempt, one message, one run.

Three levels, each the parent of the next:

* a run of ``send_many`` (or ``get_statuses``): an INTERNAL span named
  ``ViberClient.send_many``, current while its workers are made, so each
  worker's context (copied when its task is made) carries it;
* one message (``send``, or one input of a run): an INTERNAL span named
  ``ViberClient.send``, current while its attempts are made;
* one attempt: a CLIENT span named ``POST /v1/api/send-viber`` after the
  HTTP client conventions, made when the request leaves and ended when its
  answer has been read (so a 429 or a refusal is on it) or its failure is
  known. It is never made current: nothing happens under it.

No exception is recorded on a span (its text may quote what the service
echoed: a phone number, message text), only its class in ``error.type``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextvars import Token
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from decisiontelecom_async._errors import DecisionTelecomError, TransportError
from decisiontelecom_async._telemetry import _names as n

if TYPE_CHECKING:
    from decisiontelecom_async._http._answer import Answer
    from decisiontelecom_async._telemetry._hooks import Signals, Target, Watched
    from decisiontelecom_async._telemetry._metrics import Attributes

__all__ = ["Attempt", "RunSpan", "traced_message"]

_T = TypeVar("_T")


def _error_type(status: int | None, error: BaseException | None) -> str | None:
    # The conventions: the status code for an error status, else the exception's class.
    if status is not None and status >= 400:  # noqa: PLR2004 - HTTP's error statuses
        return str(status)
    return None if error is None else type(error).__name__


def _unknown(error: BaseException | None) -> bool:
    if isinstance(error, TransportError):
        return error.outcome_unknown
    # Cancelled while the request was out: it may have been processed.
    return isinstance(error, asyncio.CancelledError)


class Attempt:
    """One request on its way: its span, and what its end records."""

    __slots__ = ("_metric", "_signals", "_span", "_started", "_target", "_watched")

    def __init__(
        self,
        watched: Watched,
        signals: Signals,
        target: Target,
        method: str,
        *,
        number: int,
        after: DecisionTelecomError | None,
    ) -> None:
        self._watched = watched
        self._signals = signals
        self._target = target
        cause = None if after is None else n.retry_cause_of(after)
        self._metric: dict[str, Any] = {
            n.HTTP_METHOD: method,
            n.SERVER_ADDRESS: watched.address,
            n.SERVER_PORT: watched.port,
            n.URL_TEMPLATE: target.template,
            n.CLIENT: watched.name,
            n.ENDPOINT: target.endpoint,
        }
        tracer = signals.tracer
        self._span = None
        if tracer is not None:
            attributes: dict[str, Any] = {
                **self._metric,
                n.URL_FULL: target.url,
                n.ATTEMPT: number,
            }
            if cause is not None:
                attributes[n.HTTP_RESEND_COUNT] = number - 1
                attributes[n.RETRY_CAUSE] = cause
            self._span = tracer.start_span(
                f"{method} {target.template}", kind=SpanKind.CLIENT, attributes=attributes
            )
        instruments = signals.instruments
        if instruments is not None and cause is not None:
            instruments.retries.add(
                1, {n.CLIENT: watched.name, n.ENDPOINT: target.endpoint, n.RETRY_CAUSE: cause}
            )
        self._started = time.perf_counter()

    def reading(self, parse: Callable[[Answer], _T]) -> Callable[[Answer], _T]:
        """``parse``, ending the attempt with the answer's status and what ``parse`` raised."""

        def read(answer: Answer) -> _T:
            try:
                result = parse(answer)
            except BaseException as exc:
                self.end(answer.status_code, exc)
                raise
            self.end(answer.status_code, None)
            return result

        return read

    def end(self, status: int | None, error: BaseException | None) -> None:
        """The attempt is over: ``status`` of its answer (None: none came), ``error`` it raised."""
        elapsed = time.perf_counter() - self._started
        error_type = _error_type(status, error)
        span = self._span
        if span is not None:
            if status is not None:
                span.set_attribute(n.HTTP_STATUS_CODE, status)
            if error_type is not None:
                span.set_attribute(n.ERROR_TYPE, error_type)
                span.set_status(Status(StatusCode.ERROR, type(error).__name__ if error else None))
            span.set_attribute(n.OUTCOME_UNKNOWN, _unknown(error))
            span.end()
        instruments = self._signals.instruments
        if instruments is None:
            return
        metric = self._metric
        if status is not None:
            metric[n.HTTP_STATUS_CODE] = status
        if error_type is not None:
            metric[n.ERROR_TYPE] = error_type
        instruments.duration.record(elapsed, metric)
        if status == 429:  # noqa: PLR2004 - Too Many Requests
            instruments.rate_limited.add(
                1, {n.CLIENT: self._watched.name, n.ENDPOINT: self._target.endpoint}
            )


def _message_attributes(watched: Watched, target: Target, receiver: str | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {n.CLIENT: watched.name, n.ENDPOINT: target.endpoint}
    if receiver is not None and watched.receiver:
        attributes[n.RECEIVER] = receiver
    return attributes


async def traced_message(
    call: Awaitable[tuple[int, int]],
    watched: Watched,
    signals: Signals,
    target: Target,
    receiver: str | None,
    *,
    counted: bool,
) -> tuple[int, int]:
    """Await ``call`` (one message's send) under its span; count its outcome if ``counted``.

    ``counted`` is false inside a bulk run, which counts each input's outcome
    as it hands it out (it can differ from what the send raised: a stop turns
    a refused attempt into "not sent").
    """
    tracer = signals.tracer
    span = None
    token = None
    if tracer is not None:
        span = tracer.start_span(
            f"{watched.name}.send",
            kind=SpanKind.INTERNAL,
            attributes=_message_attributes(watched, target, receiver),
        )
        token = context.attach(trace.set_span_in_context(span))
    error: BaseException | None = None
    result: tuple[int, int] | None = None
    try:
        result = await call
    except BaseException as exc:
        error = exc
        raise
    finally:
        if span is not None and token is not None:
            context.detach(token)
            _end_message(span, result, error)
        if counted and signals.instruments is not None and not _cancelled(error):
            signals.instruments.messages.add(1, outcome_attributes(watched, error, resumed=False))
    return result


def _cancelled(error: BaseException | None) -> bool:
    # A send cancelled by its caller gave the caller no outcome to count.
    return error is not None and not isinstance(error, DecisionTelecomError)


def _end_message(
    span: trace.Span, result: tuple[int, int] | None, error: BaseException | None
) -> None:
    if result is not None:
        message_id, attempts = result
        span.set_attribute(n.OUTCOME, "sent")
        span.set_attribute(n.MESSAGE_ID, message_id)
        span.set_attribute(n.ATTEMPTS, attempts)
    else:
        span.set_attribute(n.OUTCOME, n.outcome_of(error))
        span.set_attribute(n.ERROR_TYPE, type(error).__name__)
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        tried = getattr(error, "attempts", None)
        if isinstance(tried, int):
            span.set_attribute(n.ATTEMPTS, tried)
    span.set_attribute(n.OUTCOME_UNKNOWN, _unknown(error))
    span.end()


def outcome_attributes(
    watched: Watched, error: BaseException | None, *, resumed: bool
) -> Attributes:
    """The attributes of one message counted: its client, outcome, error class if it failed."""
    outcome = n.outcome_of(error)
    attributes: dict[str, str | bool] = {
        n.CLIENT: watched.name,
        n.OUTCOME: outcome,
        n.RESUMED: resumed,
    }
    if outcome == "failed" and error is not None:
        attributes[n.ERROR_TYPE] = type(error).__name__
    return attributes


class RunSpan:
    """A bulk run's span and its tally of outcomes; counts each outcome handed out."""

    __slots__ = ("_counts", "_counts_messages", "_signals", "_span", "_token", "_watched")

    def __init__(self, watched: Watched, signals: Signals, name: str, *, writes: bool) -> None:
        self._watched = watched
        self._signals = signals
        self._counts_messages = writes
        self._counts: dict[str, int] = {}
        self._token: Token[Context] | None = None
        tracer = signals.tracer
        self._span = (
            None
            if tracer is None
            else tracer.start_span(
                f"{watched.name}.{name}",
                kind=SpanKind.INTERNAL,
                attributes={n.CLIENT: watched.name},
            )
        )

    def __enter__(self) -> None:
        """Make the run's span current (while its workers are made)."""
        if self._span is not None:
            self._token = context.attach(trace.set_span_in_context(self._span))

    def __exit__(self, *_: object) -> None:
        if self._token is not None:
            context.detach(self._token)
            self._token = None

    def outcome(self, outcome: object, error: DecisionTelecomError | None) -> None:
        """Count one outcome of the run (``resumed`` ones from a journal marked so)."""
        if not self._counts_messages:
            return
        kind = n.outcome_of(error)
        counts = self._counts
        counts[kind] = counts.get(kind, 0) + 1
        resumed = getattr(outcome, "resumed", False) is True
        if resumed:
            counts["resumed"] = counts.get("resumed", 0) + 1
        instruments = self._signals.instruments
        if instruments is not None:
            instruments.messages.add(1, outcome_attributes(self._watched, error, resumed=resumed))

    def end(self, cause: DecisionTelecomError | None) -> None:
        """The run is over; ``cause`` is the error that stopped it, if one did."""
        span = self._span
        if span is None:
            return
        self._span = None
        if self._counts_messages:
            for kind in ("sent", "failed", "not_sent", "unknown", "resumed"):
                span.set_attribute(f"{n.MESSAGES}.{kind}", self._counts.get(kind, 0))
        if cause is not None:
            span.set_attribute(n.ERROR_TYPE, type(cause).__name__)
            span.set_status(Status(StatusCode.ERROR, type(cause).__name__))
        span.end()
