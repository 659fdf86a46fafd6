"""Bulk status look-ups and waiting for final statuses, shared by both clients.

A client names how to read one status (``_get_status``, returning the status
and the attempts made) and when a status is final (``_is_final``); the bulk
engine and the polling loop do the rest, for a :class:`MessageReceipt` of the
Viber API as for an :class:`SmsStatus` of the SMS API.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from decisiontelecom_async._base_client import BaseClient
from decisiontelecom_async._bulk import BulkRun
from decisiontelecom_async._bulk_calls import get_statuses_of
from decisiontelecom_async._errors import FieldProblem, ValidationError
from decisiontelecom_async._models import StatusOutcome
from decisiontelecom_async._numbers import MAX_ID
from decisiontelecom_async._polling import wait_for_final_status_of, wait_for_final_statuses_of

if TYPE_CHECKING:
    from decisiontelecom_async._http._guard import RunGuard
    from decisiontelecom_async._progress import ProgressHook
    from decisiontelecom_async._retry import RetryPolicy

__all__ = ["StatusLookups", "check_message_id"]


class _Final(Protocol):
    @property
    def is_final(self) -> bool: ...


_R = TypeVar("_R", bound=_Final)


def check_message_id(message_id: object) -> int:
    """Refuse a message id that cannot be one, before any request."""
    if isinstance(message_id, bool) or not isinstance(message_id, int) or message_id <= 0:
        raise ValidationError(
            [FieldProblem("message_id", f"must be a positive int, got {_shown(message_id)}")],
            subject="status look-up",
        )
    if message_id > MAX_ID:
        # Ids are unsigned 64-bit: the service never gave this one out.
        raise ValidationError(
            [
                FieldProblem(
                    "message_id",
                    f"must be at most {MAX_ID} (ids are 64-bit), got {_shown(message_id)}",
                )
            ],
            subject="status look-up",
        )
    return message_id


def _shown(value: object) -> str:
    # repr() of an int past 4300 digits raises a plain ValueError.
    if isinstance(value, int) and abs(value) > MAX_ID:
        return f"an int of {value.bit_length()} bits"
    return repr(value)


class StatusLookups(BaseClient, Generic[_R]):
    """``get_statuses`` and ``wait_for_final_status(es)`` over a client's ``_get_status``."""

    async def _get_status(
        self,
        message_id: int,
        *,
        retry_policy: RetryPolicy | None = None,
        guard: RunGuard | None = None,
    ) -> tuple[_R, int]:
        raise NotImplementedError

    @staticmethod
    def _is_final(status: _R) -> bool:
        # A MessageReceipt and an SmsStatus both say it themselves.
        return status.is_final

    def get_statuses(
        self,
        message_ids: Iterable[int] | AsyncIterable[int],
        *,
        concurrency: int | None = None,
        progress: ProgressHook | None = None,
        progress_interval: float = 0.5,
        retry_policy: RetryPolicy | None = None,
    ) -> BulkRun[StatusOutcome[_R]]:
        """Look up every id; yield a :class:`StatusOutcome` for each as it finishes.

        The same pattern as ``send_many``: lazy input, ``concurrency``
        look-ups in flight at most, completion order, one outcome per id. Each
        outcome's ``receipt`` is what :meth:`get_status` returns (a
        :class:`MessageReceipt`, or an :class:`SmsStatus` for the SMS API). An
        id that cannot be one (not a positive int) fails its own outcome with
        :class:`ValidationError`; refused credentials stop the run.
        """
        return get_statuses_of(
            self,
            message_ids,
            lambda message_id, guard: self._get_status(
                message_id, retry_policy=retry_policy, guard=guard
            ),
            concurrency=concurrency,
            progress=progress,
            progress_interval=progress_interval,
        )

    async def wait_for_final_status(
        self,
        message_id: int,
        *,
        timeout: float,  # noqa: ASYNC109 - it also bounds the sleeps between polls
        poll_interval: float = 2.0,
        max_poll_interval: float = 30.0,
        retry_policy: RetryPolicy | None = None,
    ) -> _R:
        """Poll the status until it is final; return that status.

        Final means :attr:`MessageReceipt.is_final` for Viber and
        :attr:`SmsStatus.is_final` for the SMS API (an SMS sent without a
        delivery report may never become final). Polls every
        ``poll_interval`` seconds at first, half as long again after each
        look-up, up to ``max_poll_interval``; the look-ups share the client's
        concurrency bound and rate limit. When ``timeout`` seconds pass first
        (a look-up still running then is cut short), raises
        :class:`StatusTimeoutError` (a :class:`TimeoutError`) whose
        ``receipt`` is the last status read. An error of a look-up (after the
        client's retries) is raised as is.
        """
        check_message_id(message_id)
        return await wait_for_final_status_of(
            self,
            message_id,
            lambda message_id, guard: self._get_status(
                message_id, retry_policy=retry_policy, guard=guard
            ),
            self._is_final,
            timeout=timeout,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
        )

    def wait_for_final_statuses(
        self,
        message_ids: Iterable[int] | AsyncIterable[int],
        *,
        timeout: float,
        concurrency: int | None = None,
        poll_interval: float = 2.0,
        max_poll_interval: float = 30.0,
        progress: ProgressHook | None = None,
        progress_interval: float = 0.5,
        retry_policy: RetryPolicy | None = None,
    ) -> BulkRun[StatusOutcome[_R]]:
        """Wait for the final status of every id; yield each outcome once it is final.

        Every id is polled as in :meth:`wait_for_final_status`, ``concurrency``
        ids at a time (default 1000: a watched id costs a sleeping coroutine;
        the requests stay bounded by ``max_concurrency``). ``timeout`` is one
        deadline for the whole call, counted from the first outcome asked
        for: an id not final by then gets an outcome whose ``error`` is a
        :class:`StatusTimeoutError` and whose ``receipt`` is the last status
        read. Refused credentials stop the run.
        """
        return wait_for_final_statuses_of(
            self,
            message_ids,
            lambda message_id, guard: self._get_status(
                message_id, retry_policy=retry_policy, guard=guard
            ),
            self._is_final,
            timeout=timeout,
            concurrency=concurrency,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            progress=progress,
            progress_interval=progress_interval,
        )
