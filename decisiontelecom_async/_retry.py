"""When and how long to wait before repeating a failed request.

:class:`RetryPolicy` is the public knob; tenacity does the work and stays
private to this module. :func:`is_retryable` is the whole decision, a pure
function over the exception:

* 429 (unless the service asks to wait longer than ``max_retry_after``) and
  500/503 are retried for every call;
* a :class:`TransportError` that provably never reached the service (connect
  failure, no free pooled connection) is retried for every call;
* reads (status look-ups, balance) also retry every other transient failure:
  timeouts after sending, dropped connections, 502/504;
* writes (sends) do not retry a failure whose outcome is unknown, because the
  first request may have been delivered and billed; set
  ``retry_unknown_outcome=True`` to accept that risk;
* 400, 401/403, 402, validation errors and unexpected bodies are never retried.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs
import tenacity

from decisiontelecom_async._errors import (
    DecisionTelecomError,
    RateLimitError,
    ServerError,
    TransportError,
)

__all__ = ["RetryPolicy", "call_with_retries", "is_retryable"]

logger = logging.getLogger("decisiontelecom_async")

_T = TypeVar("_T")
_ALWAYS_RETRIED_STATUSES = frozenset({500, 503})


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        msg = f"RetryPolicy.{attribute.name} must be a finite number >= 0, got {value!r}"
        raise ValueError(msg)


@attrs.frozen
class RetryPolicy:
    """How a client repeats failed requests: exponential backoff with jitter.

    The wait before retry *n* (from 1) is ``initial_wait * 2 ** (n - 1)``
    capped at ``max_wait``, plus a random ``0..jitter`` seconds. A 429 that
    says ``Retry-After`` waits exactly that long instead, up to
    ``max_retry_after``; a longer demand is not waited for: the call fails at
    once with a :class:`RateLimitError` whose ``retry_after`` says how long.

    Retries stop after ``max_retries`` retries or when the next wait would end
    after ``timeout`` seconds from the start of the call, whichever comes
    first; a request still waiting for its answer then is cut off.

    Pass one to a client (``ViberClient(key, retry_policy=...)``) or to a
    single call (``client.send(message, retry_policy=...)``)::

        RetryPolicy(max_retries=5, max_wait=10.0)
        RetryPolicy(max_retries=0)  # never retry
    """

    max_retries: int = attrs.field(
        default=3, validator=[attrs.validators.instance_of(int), attrs.validators.ge(0)]
    )
    """Retries after the first try (0: try once)."""
    initial_wait: float = attrs.field(default=0.5, validator=_non_negative)
    """Seconds before the first retry, doubled for each later one."""
    max_wait: float = attrs.field(default=30.0, validator=_non_negative)
    """The longest backoff wait, before jitter."""
    jitter: float = attrs.field(default=0.5, validator=_non_negative)
    """Up to this many random seconds added to each backoff wait."""
    timeout: float = attrs.field(default=120.0, validator=_non_negative)
    """Total time budget for one call, requests, answers and waits included.

    A request still in progress when it runs out is cut off: a
    :class:`TransportError` with ``outcome_unknown=True`` (it may have
    reached the service). A request that could not leave before it ran out
    (queued behind the client's own limits) is not sent.
    """
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative)
    """The longest ``Retry-After`` honoured; a longer one fails the call at once."""
    retry_unknown_outcome: bool = False
    """Also retry sends whose first attempt may have reached the service.

    Off by default: a send that timed out after the request went out may have
    been delivered, and repeating it can deliver and bill the message twice.
    Reads are always retried.
    """

    def backoff(self, retry_number: int) -> float:
        """The wait before retry ``retry_number`` (from 1), without jitter."""
        return float(min(self.max_wait, self.initial_wait * 2.0 ** (retry_number - 1)))


def is_retryable(
    exc: BaseException, *, idempotent: bool, retry_unknown_outcome: bool, max_retry_after: float
) -> bool:
    """Whether a call that failed with ``exc`` may be repeated."""
    if isinstance(exc, RateLimitError):
        return exc.retry_after is None or exc.retry_after <= max_retry_after
    if isinstance(exc, ServerError):
        return idempotent or retry_unknown_outcome or exc.status in _ALWAYS_RETRIED_STATUSES
    if isinstance(exc, TransportError):
        return not exc.outcome_unknown or idempotent or retry_unknown_outcome
    return False


def _wait_for(policy: RetryPolicy) -> Callable[[tenacity.RetryCallState], float]:
    # wait_exponential + wait_random rather than wait_exponential_jitter: the
    # latter deprecated its ``initial`` argument, and its replacement does not
    # exist in every tenacity this package supports.
    backoff = tenacity.wait_exponential(
        multiplier=policy.initial_wait, max=policy.max_wait
    ) + tenacity.wait_random(0, policy.jitter)

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimitError) and exc.retry_after is not None:
            return exc.retry_after
        return float(backoff(state))

    return wait


def _stop_for(
    policy: RetryPolicy, clock: Callable[[], float], started: float
) -> Callable[[tenacity.RetryCallState], bool]:
    # The time budget is measured on the client's clock, not tenacity's own
    # monotonic start time, so the client's (and the tests') clock decides.
    def stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number > policy.max_retries:
            return True
        return clock() - started + (state.upcoming_sleep or 0.0) > policy.timeout

    return stop


def _status_of(exc: BaseException | None) -> str:
    status = getattr(exc, "status", None)
    return str(status) if isinstance(status, int) else "none"


def _before_sleep(
    describe: str,
    policy: RetryPolicy,
    on_retry: Callable[[DecisionTelecomError, float], None] | None,
) -> Callable[[tenacity.RetryCallState], None]:
    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.upcoming_sleep
        logger.debug(
            "retrying %s after %s (status %s) in %.2fs (attempt %d of %d)",
            describe,
            type(exc).__name__,
            _status_of(exc),
            wait,
            state.attempt_number + 1,
            policy.max_retries + 1,
        )
        if on_retry is not None and isinstance(exc, DecisionTelecomError):
            on_retry(exc, wait)

    return before_sleep


async def call_with_retries(
    attempt: Callable[[int], Awaitable[_T]],
    policy: RetryPolicy,
    *,
    first_failure: DecisionTelecomError,
    started: float,
    idempotent: bool,
    sleep: Callable[[float], Awaitable[None]],
    describe: str,
    on_retry: Callable[[DecisionTelecomError, float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[_T, int]:
    """Retry a call whose first attempt failed with ``first_failure``.

    The caller makes the first attempt itself: setting up tenacity costs as
    much CPU as building the request, and most calls succeed at once.
    ``attempt(n)`` makes attempt ``n`` (2, 3, ...) until one succeeds or
    ``policy`` gives up. Returns the result and the number of attempts made;
    on failure the last exception is raised with its ``attempts`` set.
    ``clock`` measures the policy's time budget from ``started`` (when the
    first attempt began); ``sleep`` waits between attempts.
    """

    def retryable(exc: BaseException) -> bool:
        return is_retryable(
            exc,
            idempotent=idempotent,
            retry_unknown_outcome=policy.retry_unknown_outcome,
            max_retry_after=policy.max_retry_after,
        )

    if policy.max_retries == 0 or not retryable(first_failure):
        first_failure.attempts = 1
        raise first_failure
    attempts = 1
    # The first failure is handed to tenacity as its first attempt.
    pending: DecisionTelecomError | None = first_failure

    retrying = tenacity.AsyncRetrying(
        stop=_stop_for(policy, clock, started),
        wait=_wait_for(policy),
        retry=tenacity.retry_if_exception(retryable),
        sleep=sleep,
        before_sleep=_before_sleep(describe, policy, on_retry),
        reraise=True,
    )
    result: _T
    try:
        async for attempt_context in retrying:
            with attempt_context:
                if pending is not None:
                    failure, pending = pending, None
                    raise failure
                attempts += 1
                result = await attempt(attempts)
    except DecisionTelecomError as exc:
        exc.attempts = attempts
        raise
    return result, attempts
