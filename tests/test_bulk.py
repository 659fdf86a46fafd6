"""send_many / get_statuses: one outcome per input, laziness, stopping, cleanup, progress.

These run in-process (respx stands in for the service); the behaviour that
depends on real sockets is in test_bulk_loopback.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx
from conftest import ACCESS_KEY

from decisiontelecom_async import (
    AuthenticationError,
    BulkProgress,
    CampaignAborted,
    InsufficientBalanceError,
    InvalidParameterError,
    MessageReceipt,
    RetryPolicy,
    SendOutcome,
    ServerError,
    StatusOutcome,
    TransportError,
    ValidationError,
    ViberClient,
    ViberMessage,
    ViberStatus,
)
from decisiontelecom_async._bulk import (
    bulk_sleep,
    check_bulk_guard,
    note_failed_attempt,
    run_bulk,
)
from decisiontelecom_async._throttle import Throttle

BALANCE_EMPTY = {"name": "Payment Required", "message": "empty", "code": 3, "status": 402}


def make_messages(count: int, start: int = 0) -> Iterator[ViberMessage]:
    for i in range(start, start + count):
        yield ViberMessage("Shop", f"380{500000000 + i}", f"text {i}")


def index_of(request: httpx.Request) -> int:
    return int(json.loads(request.content)["text"].split()[1])


def worker_tasks(extra: tuple[str, ...] = ()) -> list[asyncio.Task[object]]:
    names = ("send_many", "get_statuses", "wait_for_final_statuses", *extra)
    return [task for task in asyncio.all_tasks() if task.get_name().startswith(names)]


class _Owner:
    """Stands in for the client of a run driven directly through run_bulk."""


class Counter:
    """A send-viber stand-in that counts requests in flight; ids are 1000 + index."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            index = index_of(request)
            # Later inputs answer sooner, so completion order differs from input order.
            await asyncio.sleep(self.delay * (1 + (index * 7) % 5))
            return httpx.Response(200, json={"message_id": 1000 + index})
        finally:
            self.in_flight -= 1


# -- one outcome per input ----------------------------------------------------------


async def test_every_input_gets_one_outcome_in_completion_order(
    api: respx.MockRouter, client: ViberClient
) -> None:
    api.post("/send-viber").mock(side_effect=Counter(delay=0.002))
    outcomes = [o async for o in client.send_many(make_messages(60), concurrency=10)]
    assert sorted(o.index for o in outcomes) == list(range(60))
    assert [o.index for o in outcomes] != list(range(60))  # completion order
    for outcome in outcomes:
        assert isinstance(outcome, SendOutcome)
        assert outcome.ok
        assert outcome.message_id == 1000 + outcome.index
        assert outcome.message.text == f"text {outcome.index}"
        assert outcome.attempts == 1


async def test_an_async_iterable_is_read_too(api: respx.MockRouter, client: ViberClient) -> None:
    api.post("/send-viber").mock(side_effect=Counter())

    async def produce() -> AsyncIterator[ViberMessage]:
        for message in make_messages(25):
            await asyncio.sleep(0)
            yield message

    outcomes = [o async for o in client.send_many(produce(), concurrency=4)]
    assert sorted(o.message_id for o in outcomes if o.message_id) == list(range(1000, 1025))


async def test_an_empty_input_yields_nothing(api: respx.MockRouter, client: ViberClient) -> None:
    assert [o async for o in client.send_many([])] == []
    assert not worker_tasks()


async def test_input_is_pulled_lazily_and_never_far_ahead(
    api: respx.MockRouter, client: ViberClient
) -> None:
    api.post("/send-viber").mock(side_effect=Counter())
    pulled = 0

    def endless() -> Iterator[ViberMessage]:
        nonlocal pulled
        for message in make_messages(10_000_000):
            pulled += 1
            yield message

    handed_out = 0
    async with contextlib.aclosing(client.send_many(endless(), concurrency=7)) as outcomes:
        async for _ in outcomes:
            handed_out += 1
            # A slow consumer: the workers must wait for it, not race ahead.
            await asyncio.sleep(0.001 if handed_out % 10 == 0 else 0)
            assert pulled - handed_out <= 7
            if handed_out == 300:
                break
    assert pulled <= 300 + 7
    assert not worker_tasks()


async def test_a_fixed_pool_of_workers_not_a_task_per_message(
    api: respx.MockRouter, client: ViberClient
) -> None:
    api.post("/send-viber").mock(side_effect=Counter(delay=0.001))
    most = 0
    async for _ in client.send_many(make_messages(200), concurrency=5):
        most = max(most, len(worker_tasks()))
    assert 1 <= most <= 5
    assert not worker_tasks()


async def test_a_short_input_starts_no_more_workers_than_it_needs(
    api: respx.MockRouter, client: ViberClient
) -> None:
    api.post("/send-viber").mock(side_effect=Counter(delay=0.001))
    most = 0
    async for _ in client.send_many(make_messages(2), concurrency=50):
        most = max(most, len(worker_tasks()))
    assert most <= 3


async def test_an_item_that_is_not_a_message_fails_alone(
    api: respx.MockRouter, client: ViberClient
) -> None:
    api.post("/send-viber").mock(side_effect=Counter())
    items: list[object] = [*make_messages(3), {"text": "a dict"}, None, *make_messages(2, start=3)]
    outcomes = {o.index: o async for o in client.send_many(items)}  # type: ignore[arg-type]
    assert len(outcomes) == 7
    for index in (3, 4):
        error = outcomes[index].error
        assert isinstance(error, ValidationError)
        assert error.fields == ("message",)
        assert outcomes[index].attempts == 0
    assert [outcomes[i].ok for i in (0, 1, 2, 5, 6)] == [True] * 5


async def test_a_400_affects_only_its_own_message(
    api: respx.MockRouter, client: ViberClient
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if index_of(request) == 4:
            error = {"name": "Invalid Parameter: text", "message": "bad", "code": 1, "status": 400}
            return httpx.Response(400, json=error)
        return httpx.Response(200, json={"message_id": 1000 + index_of(request)})

    api.post("/send-viber").mock(side_effect=answer)
    outcomes = {o.index: o async for o in client.send_many(make_messages(10), concurrency=3)}
    assert isinstance(outcomes[4].error, InvalidParameterError)
    assert outcomes[4].error.param == "text"
    assert sum(o.ok for o in outcomes.values()) == 9


async def test_an_error_of_the_input_itself_is_raised_after_the_outcomes(
    api: respx.MockRouter, client: ViberClient
) -> None:
    api.post("/send-viber").mock(side_effect=Counter())

    def broken() -> Iterator[ViberMessage]:
        yield from make_messages(5)
        raise LookupError("the CSV ran dry")

    seen: list[int] = []

    async def consume() -> None:
        async for outcome in client.send_many(broken(), concurrency=2):
            seen.append(outcome.index)  # noqa: PERF401 - collected before the error

    with pytest.raises(LookupError, match="ran dry"):
        await consume()
    assert sorted(seen) == [0, 1, 2, 3, 4]
    assert not worker_tasks()


# -- stopping the run -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error_type"),
    [
        (402, BALANCE_EMPTY, InsufficientBalanceError),
        (401, None, AuthenticationError),
        (403, None, AuthenticationError),
    ],
)
async def test_balance_or_key_refused_stops_the_run(
    api: respx.MockRouter,
    client: ViberClient,
    status: int,
    body: dict[str, object] | None,
    error_type: type[Exception],
) -> None:
    sent_after_stop = 0
    stopped = False

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal stopped, sent_after_stop
        if stopped:
            sent_after_stop += 1
        index = index_of(request)
        if index == 20:
            stopped = True
            return httpx.Response(status, json=body) if body else httpx.Response(status)
        await asyncio.sleep(0.001)
        return httpx.Response(200, json={"message_id": 1000 + index})

    api.post("/send-viber").mock(side_effect=answer)
    outcomes = [o async for o in client.send_many(make_messages(100), concurrency=5)]

    assert sorted(o.index for o in outcomes) == list(range(100))
    stopper = next(o for o in outcomes if o.index == 20)
    assert isinstance(stopper.error, error_type)
    aborted = [o for o in outcomes if isinstance(o.error, CampaignAborted)]
    assert len(aborted) >= 100 - 21 - 5
    for outcome in aborted:
        assert outcome.error is not None
        assert outcome.error.cause is stopper.error  # type: ignore[attr-defined]
        assert outcome.attempts == 0
        assert outcome.message_id is None
    # Requests already in flight finish; no new one starts after the stop.
    assert sent_after_stop == 0
    assert all(o.ok for o in outcomes if o.error is None)


async def test_a_stop_cuts_a_retry_wait_short(api: respx.MockRouter) -> None:
    # Message 0 gets a 503 and waits to retry (a minute, on real time); message 1
    # then empties the balance. The retry never happens and the run ends at once.
    second_may_go = asyncio.Event()
    attempts_of_first = 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal attempts_of_first
        if index_of(request) == 0:
            attempts_of_first += 1
            second_may_go.set()
            return httpx.Response(
                503, json={"name": "x", "message": "busy", "code": 2, "status": 503}
            )
        await second_may_go.wait()
        await asyncio.sleep(0.01)
        return httpx.Response(402, json=BALANCE_EMPTY)

    api.post("/send-viber").mock(side_effect=answer)
    policy = RetryPolicy(max_retries=3, initial_wait=60.0, jitter=0.0)
    async with ViberClient(ACCESS_KEY, retry_policy=policy) as client:
        outcomes = {o.index: o async for o in client.send_many(make_messages(2), concurrency=2)}
    assert attempts_of_first == 1
    assert isinstance(outcomes[1].error, InsufficientBalanceError)
    first = outcomes[0]
    # Its first request went out (and may have been delivered): never "not sent",
    # or resending the CampaignAborted ones could send it twice.
    assert not isinstance(first.error, CampaignAborted)
    assert isinstance(first.error, ServerError | TransportError)
    assert first.error.attempts == 1
    assert first.attempts == 1


async def test_a_stop_during_a_retry_wait_reports_the_last_attempts_error(
    api: respx.MockRouter,
) -> None:
    second_may_go = asyncio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        if index_of(request) == 0:
            second_may_go.set()
            return httpx.Response(
                503, json={"name": "x", "message": "busy", "code": 2, "status": 503}
            )
        await second_may_go.wait()
        await asyncio.sleep(0.01)
        return httpx.Response(402, json=BALANCE_EMPTY)

    api.post("/send-viber").mock(side_effect=answer)
    policy = RetryPolicy(max_retries=3, initial_wait=60.0, jitter=0.0)
    async with ViberClient(ACCESS_KEY, retry_policy=policy) as client:
        outcomes = {o.index: o async for o in client.send_many(make_messages(2), concurrency=2)}
    assert isinstance(outcomes[0].error, ServerError)
    assert outcomes[0].error.status == 503


async def test_the_engine_reports_the_noted_error_of_a_retry_cut_short() -> None:
    # What the client does for a send in a run, step by step: the guard lets
    # a request out, the attempt fails and is noted, the retry wait begins.
    second_may_go = asyncio.Event()
    busy = ServerError("x", "busy", code=2, status=503)
    empty = InsufficientBalanceError("Payment Required", "empty", code=3, status=402)

    async def call(item: int) -> tuple[int, int]:
        if item == 0:
            check_bulk_guard()
            note_failed_attempt(busy, 60.0)
            second_may_go.set()
            await bulk_sleep(asyncio.sleep, 60.0)
            check_bulk_guard()
            return 1, 2
        if item == 1:
            await second_may_go.wait()
            check_bulk_guard()
            raise empty
        check_bulk_guard()
        return 100 + item, 1

    owner = _Owner()
    started = asyncio.get_running_loop().time()
    outcomes = {
        o.index: o
        async for o in run_bulk(owner, range(5), call, SendOutcome, workers=2, writes=True)  # type: ignore[arg-type]
    }
    assert asyncio.get_running_loop().time() - started < 5  # the 60 s wait was cut short
    assert outcomes[0].error is busy
    assert outcomes[0].attempts == busy.attempts == 1
    assert outcomes[1].error is empty
    # Inputs for which no request went out are the only CampaignAborted ones.
    for index in (2, 3, 4):
        error = outcomes[index].error
        assert isinstance(error, CampaignAborted)
        assert error.cause is empty
        assert outcomes[index].attempts == 0


async def test_a_stopped_run_still_hands_out_every_input_of_a_long_input(
    api: respx.MockRouter, client: ViberClient
) -> None:
    api.post("/send-viber").mock(return_value=httpx.Response(402, json=BALANCE_EMPTY))
    progress: list[BulkProgress] = []
    outcomes = [
        o
        async for o in client.send_many(
            make_messages(5000), concurrency=8, progress=progress.append, progress_interval=60
        )
    ]
    assert len(outcomes) == 5000
    assert sum(isinstance(o.error, CampaignAborted) for o in outcomes) >= 5000 - 8
    assert progress[-1].final
    assert progress[-1].done == 5000
    assert progress[-1].aborted >= 5000 - 8


# -- limits ---------------------------------------------------------------------------------


async def test_concurrency_narrows_the_client_bound_and_cannot_widen_it(
    api: respx.MockRouter,
) -> None:
    counter = Counter(delay=0.002)
    api.post("/send-viber").mock(side_effect=counter)
    async with ViberClient(ACCESS_KEY, max_concurrency=6) as client:
        _ = [o async for o in client.send_many(make_messages(60), concurrency=3)]
        assert counter.max_in_flight == 3
        counter.max_in_flight = 0
        _ = [o async for o in client.send_many(make_messages(60), concurrency=500)]
        assert counter.max_in_flight == 6


async def test_one_bound_for_every_call_and_every_run_of_a_client(api: respx.MockRouter) -> None:
    counter = Counter(delay=0.002)
    api.post("/send-viber").mock(side_effect=counter)

    async def status(request: httpx.Request) -> httpx.Response:
        counter.in_flight += 1
        counter.max_in_flight = max(counter.max_in_flight, counter.in_flight)
        await asyncio.sleep(0.003)
        counter.in_flight -= 1
        message_id = json.loads(request.content)["message_id"]
        return httpx.Response(200, json={"message_id": message_id, "status": 1})

    api.post("/receive-viber").mock(side_effect=status)
    async with ViberClient(ACCESS_KEY, max_concurrency=4) as client:

        async def run(start: int) -> int:
            return len([o async for o in client.send_many(make_messages(40, start))])

        async def singles() -> None:
            for message in make_messages(10, start=500):
                await client.send(message)

        async def statuses() -> int:
            return len([o async for o in client.get_statuses(range(1, 41), concurrency=4)])

        done = await asyncio.gather(run(0), run(100), singles(), statuses())
    assert done == [40, 40, None, 40]
    assert counter.max_in_flight == 4


def test_arguments_are_checked_when_called() -> None:
    client = ViberClient(ACCESS_KEY)
    with pytest.raises(ValueError, match="concurrency"):
        client.send_many([], concurrency=0)
    with pytest.raises(ValueError, match="concurrency"):
        client.get_statuses([], concurrency=True)
    with pytest.raises(ValueError, match="progress_interval"):
        client.send_many([], progress=print, progress_interval=0)
    with pytest.raises(TypeError, match="progress"):
        client.send_many([], progress="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="iterable"):
        client.send_many(ViberMessage("Shop", "380500000000", "hi"))  # type: ignore[arg-type]


async def test_a_closed_client_refuses_a_run() -> None:
    client = ViberClient(ACCESS_KEY)
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        client.send_many([])


# -- leaving early leaves nothing behind ----------------------------------------------


async def test_breaking_out_stops_the_run_without_aclosing(
    api: respx.MockRouter, client: ViberClient, caplog: pytest.LogCaptureFixture
) -> None:
    counter = Counter(delay=0.001)
    api.post("/send-viber").mock(side_effect=counter)
    async for outcome in client.send_many(make_messages(1_000_000), concurrency=10):
        if outcome.index >= 0:
            break
    # The loop's async-generator finaliser closes the run on the next turns.
    for _ in range(20):
        await asyncio.sleep(0.001)
        if not worker_tasks():
            break
    assert not worker_tasks()
    sent = counter.requests
    await asyncio.sleep(0.02)
    assert counter.requests == sent
    assert sent <= 1 + 2 * 10
    assert "destroyed" not in caplog.text


async def test_aclose_stops_the_run_at_once(api: respx.MockRouter, client: ViberClient) -> None:
    api.post("/send-viber").mock(side_effect=Counter(delay=0.01))
    outcomes = client.send_many(make_messages(1000), concurrency=10)
    first = await anext(outcomes)
    assert first.ok
    assert worker_tasks()
    await outcomes.aclose()
    assert not worker_tasks()


async def test_cancelling_the_consumer_leaves_no_task(
    api: respx.MockRouter, client: ViberClient
) -> None:
    api.post("/send-viber").mock(side_effect=Counter(delay=0.01))
    fifteen = asyncio.Event()

    async def consume() -> None:
        got = 0
        async for _ in client.send_many(make_messages(1000), concurrency=10):
            got += 1
            if got == 15:
                fifteen.set()

    task = asyncio.create_task(consume())
    await fifteen.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not worker_tasks()
    # The client is still fine for the next call.
    assert await client.send(ViberMessage("Shop", "380500000000", "text 7")) == 1007


async def test_closing_the_client_stops_its_runs(api: respx.MockRouter) -> None:
    api.post("/send-viber").mock(side_effect=Counter(delay=0.01))
    client = ViberClient(ACCESS_KEY)
    outcomes = client.send_many(make_messages(1000), concurrency=10)
    await anext(outcomes)
    await client.aclose()
    assert all(task.done() or task.cancelling() for task in worker_tasks())
    with pytest.raises(RuntimeError, match="closed"):
        await anext(outcomes)
    assert not worker_tasks()


async def test_an_unstarted_run_costs_nothing(api: respx.MockRouter, client: ViberClient) -> None:
    route = api.post("/send-viber").mock(side_effect=Counter())
    outcomes = client.send_many(make_messages(10))
    await asyncio.sleep(0)
    assert not worker_tasks()
    assert route.call_count == 0
    await outcomes.aclose()


# -- progress -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_progress_reports_running_counts_and_a_final_call(
    api: respx.MockRouter, client: ViberClient, kind: str
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if index_of(request) % 10 == 3:
            return httpx.Response(400, json={"name": "Invalid Parameter: x", "code": 1})
        return httpx.Response(200, json={"message_id": 1})

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.002)
        return answer(request)

    api.post("/send-viber").mock(side_effect=slow)
    seen: list[BulkProgress] = []

    def hook(progress: BulkProgress) -> None:
        seen.append(progress)

    async def async_hook(progress: BulkProgress) -> None:
        await asyncio.sleep(0)
        seen.append(progress)

    loop = asyncio.get_running_loop()
    started = loop.time()
    outcomes = [
        o
        async for o in client.send_many(
            make_messages(200),
            concurrency=4,
            progress=hook if kind == "sync" else async_hook,
            progress_interval=0.01,
        )
    ]
    elapsed = loop.time() - started
    assert len(outcomes) == 200
    final = seen[-1]
    assert final.final
    assert (final.done, final.ok, final.failed, final.aborted) == (200, 180, 20, 0)
    assert final.in_flight == 0
    assert final.rate > 0
    running = seen[:-1]
    assert running, "the hook is called while the run goes on"
    assert not any(p.final for p in running)
    assert [p.done for p in running] == sorted(p.done for p in running)
    assert all(p.in_flight <= 4 for p in seen)
    # Bounded frequency: about one call per interval, plus the final one.
    assert len(seen) <= elapsed / 0.01 + 2


async def test_progress_counts_retries(api: respx.MockRouter, client: ViberClient) -> None:
    api.post("/send-viber").mock(
        side_effect=[
            httpx.Response(500, json={"name": "x", "message": "oops", "code": 2}),
            httpx.Response(200, json={"message_id": 1}),
        ]
    )
    seen: list[BulkProgress] = []
    outcomes = [o async for o in client.send_many(make_messages(1), progress=seen.append)]
    assert outcomes[0].attempts == 2
    assert seen[-1].retried == 1


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_failing_progress_hook_is_logged_and_the_run_goes_on(
    api: respx.MockRouter, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    counter = Counter(delay=0.002)
    api.post("/send-viber").mock(side_effect=counter)
    calls = 0

    def hook(progress: BulkProgress) -> None:
        nonlocal calls
        calls += 1
        raise ZeroDivisionError

    async def async_hook(progress: BulkProgress) -> None:
        hook(progress)

    async with ViberClient(ACCESS_KEY, max_concurrency=10) as client:
        outcomes = [
            o
            async for o in client.send_many(
                make_messages(200),
                progress=hook if kind == "sync" else async_hook,
                progress_interval=0.001,
            )
        ]
    # Every message sent has its outcome (and its id): none is thrown away.
    assert counter.requests == 200
    assert sorted(o.index for o in outcomes) == list(range(200))
    assert all(o.ok for o in outcomes)
    assert calls >= 2
    failures = [r for r in caplog.records if r.name == "decisiontelecom_async" and r.exc_info]
    assert failures
    assert failures[0].levelno == logging.ERROR
    assert "progress hook" in failures[0].getMessage()
    assert sum(r.levelno >= logging.WARNING for r in failures) == 1  # logged once, not per call
    assert not worker_tasks()


async def test_an_error_that_is_no_outcome_hands_out_the_in_flight_ones_first() -> None:
    # A bug in a call (not an SDK error) ends the run, but only after the inputs
    # already taken have finished and their outcomes are out.
    started: list[int] = []
    finished: list[int] = []
    pulled = 0

    def numbers() -> Iterator[int]:
        nonlocal pulled
        for n in range(1000):
            pulled += 1
            yield n

    async def call(item: int) -> tuple[int, int]:
        started.append(item)
        if item == 13:
            await asyncio.sleep(0.005)
            raise RuntimeError("bug")
        await asyncio.sleep(0.02)
        finished.append(item)
        return 1000 + item, 1

    seen: list[int] = []

    async def consume() -> None:
        async for outcome in run_bulk(_Owner(), numbers(), call, SendOutcome, workers=10):  # type: ignore[arg-type]
            seen.append(outcome.index)  # noqa: PERF401 - collected before the error

    with pytest.raises(RuntimeError, match="bug"):
        await consume()
    assert 13 in started
    assert sorted(seen) == sorted(finished) == sorted(set(started) - {13})
    assert len(seen) >= 10  # the ones in flight when the bug struck included
    assert pulled <= len(started) + 1  # nothing new taken after it
    assert not worker_tasks(extra=("bulk run",))


async def test_a_failing_input_hands_out_the_outcomes_of_what_it_gave(
    api: respx.MockRouter,
) -> None:
    counter = Counter(delay=0.005)
    api.post("/send-viber").mock(side_effect=counter)

    def broken() -> Iterator[ViberMessage]:
        yield from make_messages(30)
        raise RuntimeError("the CSV is corrupt")

    seen: list[int] = []

    async def consume(client: ViberClient) -> None:
        async for outcome in client.send_many(broken()):
            seen.append(outcome.index)  # noqa: PERF401 - collected before the error

    async with ViberClient(ACCESS_KEY, max_concurrency=10) as client:
        with pytest.raises(RuntimeError, match="corrupt"):
            await consume(client)
    assert counter.requests == 30
    assert sorted(seen) == list(range(30))


# -- get_statuses -------------------------------------------------------------------------------


async def test_get_statuses_yields_a_status_outcome_per_id(
    api: respx.MockRouter, client: ViberClient
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        message_id = json.loads(request.content)["message_id"]
        return httpx.Response(200, json={"message_id": message_id, "status": message_id % 2})

    api.post("/receive-viber").mock(side_effect=answer)
    ids: list[object] = [11, 12, -5, "13", 14]
    outcomes = {o.index: o async for o in client.get_statuses(ids, concurrency=2)}  # type: ignore[arg-type]
    assert set(outcomes) == {0, 1, 2, 3, 4}
    assert isinstance(outcomes[0], StatusOutcome)
    assert outcomes[0].receipt == MessageReceipt(11, ViberStatus.DELIVERED)
    assert outcomes[1].receipt == MessageReceipt(12, ViberStatus.SENT)
    assert outcomes[4].ok
    for bad in (2, 3):
        assert isinstance(outcomes[bad].error, ValidationError)
        assert outcomes[bad].receipt is None
        assert outcomes[bad].message_id == ids[bad]


async def test_a_refused_key_stops_get_statuses(api: respx.MockRouter, client: ViberClient) -> None:
    api.post("/receive-viber").mock(return_value=httpx.Response(401))
    outcomes = [o async for o in client.get_statuses(range(1, 51), concurrency=3)]
    assert len(outcomes) == 50
    assert sum(isinstance(o.error, AuthenticationError) for o in outcomes) <= 3
    assert sum(isinstance(o.error, CampaignAborted) for o in outcomes) >= 47


async def test_a_single_call_outside_a_run_is_not_affected(
    api: respx.MockRouter, client: ViberClient, caplog: pytest.LogCaptureFixture
) -> None:
    api.post("/send-viber").mock(side_effect=Counter())
    with caplog.at_level(logging.WARNING, logger="decisiontelecom_async"):
        assert await client.send(ViberMessage("Shop", "380500000000", "text 3")) == 1003
    assert not caplog.records


# -- the shared pause lets requests out one by one ------------------------------------------


@pytest.mark.parametrize(("rate_limit", "spacing"), [(None, 0.005), (50.0, 0.02)])
async def test_requests_held_by_a_pause_leave_one_by_one(
    rate_limit: float | None, spacing: float
) -> None:
    now = 100.0
    woke: list[float] = []

    async def sleep(seconds: float) -> None:
        # A sleep suspends, as a real one does: every request takes its place
        # in line while the pause lasts, before any of them wakes.
        nonlocal now
        wake_at = now + seconds
        await asyncio.sleep(0)
        now = max(now, wake_at)

    throttle = Throttle(rate_limit, sleep=sleep, clock=lambda: now)
    throttle.pause(2.0)

    async def request() -> None:
        await throttle.wait()
        woke.append(now)

    await asyncio.gather(*(request() for _ in range(5)))
    assert woke == pytest.approx([102.0 + i * spacing for i in range(5)])
    # Once the line has gone, a request passes at once.
    now += 1.0
    before = now
    await throttle.wait()
    assert now == before
