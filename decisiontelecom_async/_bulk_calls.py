"""What a client's ``send_many`` and ``get_statuses`` do before the engine runs.

Arguments are checked at the call, before anything is sent (a generator
would only run at its first ``__anext__``); then :func:`run_bulk` does the
work.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from decisiontelecom_async._bulk import (
    BulkRun,
    ItemCall,
    check_concurrency,
    check_item_type,
    run_bulk,
    stops_run,
)
from decisiontelecom_async._errors import DecisionTelecomError
from decisiontelecom_async._journal._run import check_journal, send_many_journaled
from decisiontelecom_async._models import SendOutcome, StatusOutcome
from decisiontelecom_async._progress import ProgressHook

if TYPE_CHECKING:
    from decisiontelecom_async._base_client import BaseClient
    from decisiontelecom_async._http._guard import RunGuard
    from decisiontelecom_async._journal._base import Journal

__all__ = [
    "check_bulk_input",
    "check_progress",
    "check_stop_when",
    "get_statuses_of",
    "send_many_of",
]

_I = TypeVar("_I")
_R = TypeVar("_R")


def check_bulk_input(items: object, *, what: str) -> None:
    """Refuse an input that is neither iterable nor async iterable, at call time."""
    if not isinstance(items, Iterable | AsyncIterable):
        msg = f"{what} takes an iterable or async iterable, got {type(items).__name__}"
        raise TypeError(msg)


def check_progress(progress: ProgressHook | None, progress_interval: float) -> None:
    """Refuse a progress hook that cannot be called or an interval that is not > 0."""
    if progress is not None and not callable(progress):
        msg = f"progress must be a callable, got {type(progress).__name__}"
        raise TypeError(msg)
    if (
        isinstance(progress_interval, bool)
        or not isinstance(progress_interval, int | float)
        or not progress_interval > 0
    ):
        msg = f"progress_interval must be a number of seconds > 0, got {progress_interval!r}"
        raise ValueError(msg)


def check_stop_when(stop_when: object) -> None:
    """Refuse a stop rule that cannot be called, at call time."""
    if stop_when is not None and not callable(stop_when):
        msg = f"stop_when must be a callable taking a SendOutcome, got {type(stop_when).__name__}"
        raise TypeError(msg)


def send_many_of(
    client: BaseClient,
    items: Iterable[_I] | AsyncIterable[_I],
    send_one: ItemCall[_I, int],
    item_type: type[_I],
    *,
    concurrency: int | None,
    progress: ProgressHook | None,
    progress_interval: float,
    stops: Callable[[DecisionTelecomError], bool] = stops_run,
    stop_when: Callable[[SendOutcome[_I]], bool] | None = None,
    name: str = "send_many",
    journal: Journal | None = None,
    resend_unknown: bool = False,
    digest_of: Callable[[_I], bytes] | None = None,
) -> BulkRun[SendOutcome[_I]]:
    """A client's ``send_many``: check the arguments now, send lazily.

    ``send_one(item, guard)`` sends one item and returns ``(message_id,
    attempts)`` (a client's ``_send``, the run's guard passed down). An
    input that is not an ``item_type`` gets a :class:`ValidationError`
    outcome of its own. ``concurrency`` is narrowed to the client's
    ``max_concurrency``. ``stop_when`` is the caller's own stop rule (see
    :func:`run_bulk`), on top of ``stops``. With a ``journal``, the run keeps
    it (see :mod:`._journal._run`); ``digest_of(item)`` hashes an item's wire
    body.
    """
    check_bulk_input(items, what=f"{name}()")
    check_stop_when(stop_when)
    workers = check_concurrency(
        concurrency, default=client.max_concurrency, cap=client.max_concurrency
    )
    check_progress(progress, progress_interval)
    client._ensure_usable()  # noqa: SLF001 - the engine is part of the client
    if journal is not None or resend_unknown is not False:
        check_journal(journal, resend_unknown)
        assert journal is not None  # noqa: S101 - check_journal refused None
        assert digest_of is not None  # noqa: S101 - every client passes one
        return send_many_journaled(
            client,
            items,
            send_one,
            item_type,
            digest_of,
            journal=journal,
            resend_unknown=resend_unknown,
            workers=workers,
            stops=stops,
            stop_when=stop_when,
            progress=progress,
            progress_interval=progress_interval,
            name=name,
        )

    def call(item: _I, guard: RunGuard) -> Awaitable[tuple[int, int]]:
        return send_one(check_item_type(item, item_type), guard)

    return run_bulk(
        client,
        items,
        call,
        SendOutcome,
        workers=workers,
        stops=stops,
        progress=progress,
        progress_interval=progress_interval,
        name=name,
        writes=True,
        stop_when=stop_when,
    )


def get_statuses_of(
    client: BaseClient,
    message_ids: Iterable[int] | AsyncIterable[int],
    get_one: ItemCall[int, _R],
    *,
    concurrency: int | None,
    progress: ProgressHook | None,
    progress_interval: float,
    stops: Callable[[DecisionTelecomError], bool] = stops_run,
    name: str = "get_statuses",
) -> BulkRun[StatusOutcome[_R]]:
    """A client's ``get_statuses``: check the arguments now, look up lazily.

    ``get_one(message_id, guard)`` returns ``(status, attempts)`` (a client's
    ``_get_status``, which refuses an id that cannot be one with a
    :class:`ValidationError`: that id's own outcome).
    """
    check_bulk_input(message_ids, what=f"{name}()")
    workers = check_concurrency(
        concurrency, default=client.max_concurrency, cap=client.max_concurrency
    )
    check_progress(progress, progress_interval)
    client._ensure_usable()  # noqa: SLF001 - the engine is part of the client
    return run_bulk(
        client,
        message_ids,
        get_one,
        StatusOutcome,
        workers=workers,
        stops=stops,
        progress=progress,
        progress_interval=progress_interval,
        name=name,
    )
