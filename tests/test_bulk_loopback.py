"""Bulk runs against a real HTTP server on 127.0.0.1: faults, pauses, limits, cleanup.

Each test runs with the client's own transport (httpx-aiohttp's, with the
``fast`` extra) and, where the transport matters, with httpx's own too.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from _loopback import Loopback, Reply, loopback

from decisiontelecom_async import (
    CampaignAborted,
    InsufficientBalanceError,
    InvalidParameterError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    TransportError,
    ValidationError,
    ViberClient,
    ViberMessage,
)

pytestmark = pytest.mark.network

FAST_RETRIES = RetryPolicy(max_retries=3, initial_wait=0.01, max_wait=0.05, jitter=0.0)
LIMITED = {"name": "Too Many Requests", "message": "slow down", "code": 0, "status": 429}
BALANCE_EMPTY = {"name": "Payment Required", "message": "empty", "code": 3, "status": 402}
REFUSED = {"name": "Bad Request", "message": "bad receiver", "code": 1, "status": 400}


def make_messages(count: int) -> Iterator[ViberMessage]:
    for i in range(count):
        yield ViberMessage("Shop", f"380{500000000 + i}", f"text {i}")


def text_index(body: bytes) -> int:
    return int(json.loads(body)["text"].split()[1])


@pytest.fixture(params=["own", "httpx"])
async def make_client(
    request: pytest.FixtureRequest,
) -> AsyncIterator[type[ViberClient] | object]:
    """Build clients on the SDK's own transport, or on httpx's own."""
    borrowed: list[httpx.AsyncClient] = []

    def build(base_url: str, **options: object) -> ViberClient:
        if request.param == "httpx":
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
            borrowed.append(httpx.AsyncClient(limits=limits))
            options["http_client"] = borrowed[-1]
        return ViberClient("loopback-key", base_url=base_url, **options)  # type: ignore[arg-type]

    yield build
    for http in borrowed:
        await http.aclose()


async def test_exactly_one_outcome_under_a_mix_of_faults(make_client: object) -> None:
    # By request number: 429s with Retry-After, 500s, connections dropped
    # before and after the body, 400s, and an empty balance after 300.
    server_error = {"name": "Internal", "message": "oops", "code": 2, "status": 500}
    faults = {
        3: Reply(429, LIMITED, headers={"Retry-After": "0.02"}),
        5: Reply(500, server_error),
        11: Reply(500, server_error),
        7: Reply(drop="before_body"),
        13: Reply(drop="after_body"),
        17: Reply(400, {"name": "Invalid Parameter: text", "code": 1, "status": 400}),
    }
    answer = Reply(body=lambda body: {"message_id": 10_000 + text_index(body)})

    def plan(number: int, path: str) -> Reply:
        if number == 300:
            return Reply(402, BALANCE_EMPTY)
        return faults.get(number % 23, answer)

    async with loopback(plan) as server:
        build = make_client  # type: ignore[assignment]
        async with build(server.base_url, max_concurrency=20, retry_policy=FAST_RETRIES) as client:  # type: ignore[operator]
            outcomes = [o async for o in client.send_many(make_messages(600))]
            assert client.in_flight == 0

    assert sorted(o.index for o in outcomes) == list(range(600))
    kinds = collections.Counter(type(o.error).__name__ for o in outcomes)
    assert kinds["InsufficientBalanceError"] == 1
    assert kinds["CampaignAborted"] >= 600 - 300 - 20
    assert kinds["NoneType"] > 200
    for outcome in outcomes:
        if outcome.ok:
            assert outcome.message_id == 10_000 + outcome.index
        elif isinstance(outcome.error, CampaignAborted):
            assert isinstance(outcome.error.cause, InsufficientBalanceError)
        elif isinstance(outcome.error, TransportError):
            # A dropped connection may have delivered the send: it ends the
            # tries (earlier ones may have met a 429 or a 500).
            assert outcome.error.outcome_unknown
        else:
            assert isinstance(
                outcome.error,
                InsufficientBalanceError | InvalidParameterError | ServerError | RateLimitError,
            )
    assert server.max_in_flight <= 20
    # Nothing new was sent once the 402 was in: only what was in flight then.
    assert server.requests <= 301 + 20


async def test_in_flight_never_exceeds_the_client_bound(make_client: object) -> None:
    async def plan(number: int, path: str) -> Reply:
        await asyncio.sleep(0.002)
        if path.endswith("receive-viber"):
            return Reply(body={"message_id": 5, "status": 1})
        return Reply(body={"message_id": 1})

    async with loopback(plan) as server:
        build = make_client  # type: ignore[assignment]
        async with build(server.base_url, max_concurrency=8) as client:  # type: ignore[operator]

            async def run() -> int:
                return len([o async for o in client.send_many(make_messages(80))])

            async def statuses() -> int:
                return len([o async for o in client.get_statuses(range(1, 81), concurrency=8)])

            assert await asyncio.gather(run(), run(), statuses()) == [80, 80, 80]
    assert server.max_in_flight == 8


async def test_a_429_pauses_the_whole_client_once(make_client: object) -> None:
    loop = asyncio.get_running_loop()
    pause = 0.25
    answered_429_at: list[float] = []
    arrivals: list[float] = []

    async def plan(number: int, path: str) -> Reply:
        arrivals.append(loop.time())
        if number == 30:
            answered_429_at.append(loop.time())
            return Reply(429, LIMITED, headers={"Retry-After": str(pause)})
        await asyncio.sleep(0.003)
        return Reply(body={"message_id": 1})

    async with loopback(plan) as server:
        build = make_client  # type: ignore[assignment]
        async with build(server.base_url, max_concurrency=10) as client:  # type: ignore[operator]
            outcomes = [o async for o in client.send_many(make_messages(100))]
    assert all(o.ok for o in outcomes)
    assert sum(o.attempts for o in outcomes) == 101
    [limited_at] = answered_429_at
    # Up to the concurrency were already on their way when the 429 came;
    # after those, nothing reaches the server until the pause is over.
    later = [t for t in arrivals if t > limited_at]
    early = [t for t in later if t < limited_at + pause * 0.9]
    assert len(early) <= 10
    assert len(later) - len(early) >= 60
    assert server.requests == 101


async def test_the_rate_ceiling_is_a_ceiling(make_client: object) -> None:
    loop = asyncio.get_running_loop()
    released: list[float] = []

    async with loopback(lambda number, path: Reply(body={"message_id": 1})) as server:
        build = make_client  # type: ignore[assignment]
        async with build(server.base_url, max_concurrency=50, rate_limit=100) as client:  # type: ignore[operator]
            # When the rate gate lets each request go, read in the same step
            # of the loop as its decision: arrivals at the server would also
            # carry the bunching of a busy machine's scheduling.
            acquire = client._throttle.acquire

            async def recording(**kwargs: Any) -> float:
                at = await acquire(**kwargs)
                released.append(loop.time())
                return at

            client._throttle.acquire = recording
            outcomes = [o async for o in client.send_many(make_messages(60))]
    assert all(o.ok for o in outcomes)
    assert server.requests == len(released) == 60
    # 100/s with bursts of a tenth of a second (10): the last of 60 cannot
    # go sooner than 50 requests' worth (0.5 s) after the first.
    assert released[-1] - released[0] >= 0.45
    # A leaky bucket: no window holds more than the burst (10) plus what the
    # rate lets out during it, however late the loop wakes its waiters.
    for start in released:
        assert sum(start <= t < start + 0.25 for t in released) <= 10 + 25 + 5


# -- what a dropped connection means (the transport's errors, mapped) --------------------


async def test_a_connection_dropped_after_the_body_is_not_repeated(make_client: object) -> None:
    async with loopback(lambda number, path: Reply(drop="after_body")) as server:
        build = make_client  # type: ignore[assignment]
        async with build(server.base_url, retry_policy=FAST_RETRIES) as client:  # type: ignore[operator]
            with pytest.raises(TransportError) as caught:
                await client.send(ViberMessage("Shop", "380500000000", "text 1"))
    assert caught.value.outcome_unknown
    assert "may have reached the service" in str(caught.value)
    assert server.requests == 1


async def test_a_connection_dropped_before_the_body_may_still_have_arrived(
    make_client: object,
) -> None:
    async with loopback(lambda number, path: Reply(drop="before_body")) as server:
        build = make_client  # type: ignore[assignment]
        async with build(server.base_url, retry_policy=FAST_RETRIES) as client:  # type: ignore[operator]
            with pytest.raises(TransportError) as caught:
                await client.send(ViberMessage("Shop", "380500000000", "text 1"))
    assert caught.value.outcome_unknown
    assert server.requests == 1


async def test_a_refused_connection_is_retried_and_reported_as_never_sent(
    make_client: object,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    build = make_client  # type: ignore[assignment]
    async with build(f"http://127.0.0.1:{port}/v1/api", retry_policy=FAST_RETRIES) as client:  # type: ignore[operator]
        with pytest.raises(TransportError) as caught:
            await client.send(ViberMessage("Shop", "380500000000", "text 1"))
    assert not caught.value.outcome_unknown
    assert caught.value.attempts == 4
    assert "never reached the service" in str(caught.value)


async def test_a_status_look_up_is_retried_after_a_drop(make_client: object) -> None:
    def plan(number: int, path: str) -> Reply:
        if number == 0:
            return Reply(drop="after_body")
        return Reply(body={"message_id": 9, "status": 1})

    async with loopback(plan) as server:
        build = make_client  # type: ignore[assignment]
        async with build(server.base_url, retry_policy=FAST_RETRIES) as client:  # type: ignore[operator]
            receipt = await client.get_status(9)
    assert receipt.delivered
    assert server.requests == 2


async def test_cancelling_mid_flight_leaves_no_task_and_the_client_usable(
    make_client: object,
) -> None:
    async def plan(number: int, path: str) -> Reply:
        await asyncio.sleep(0.02)
        return Reply(body={"message_id": 1})

    async with loopback(plan) as server:
        build = make_client  # type: ignore[assignment]
        async with build(server.base_url, max_concurrency=10) as client:  # type: ignore[operator]
            twenty = asyncio.Event()

            async def consume() -> None:
                got = 0
                async for _ in client.send_many(make_messages(10_000)):
                    got += 1
                    if got == 20:
                        twenty.set()

            task = asyncio.create_task(consume())
            await twenty.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("send_many")]
            assert client.in_flight == 0
            assert await client.send(ViberMessage("Shop", "380500000000", "text 1")) == 1


async def test_the_loopback_helper_counts_connections() -> None:
    async with Loopback(lambda number, path: Reply()) as server, httpx.AsyncClient() as http:
        for _ in range(3):
            await http.post(server.base_url + "/send-viber", content=b"{}")
    assert server.connections == 1


# Valid text that is hard to encode: what passes construction must go out.
TRICKY = [
    "😀 emoji",
    "\u2028 line and paragraph separators \u2029",
    "nul \x00 and bell \x07",
    'quotes " and \\ backslash /',
    "\ufeff byte order mark",
    "\U0010ffff last code point",
    "Ж€[] mixed",
]


async def test_every_string_a_message_holds_goes_out_intact(make_client: object) -> None:
    # 21 messages, each string field holding text that JSON and UTF-8 must
    # escape or carry as is; surrogate escapes of the same text are refused
    # when built, so every message that exists can be sent.
    for text in TRICKY:
        with pytest.raises(ValidationError):
            ViberMessage("Shop", "380501234567", text + "\ud800")
    messages = [
        ViberMessage(
            TRICKY[index % 7][:20],
            f"380{500000000 + index}",
            f"text {index} {TRICKY[index % 7]}",
            sms_text=TRICKY[(index + 1) % 7],
            callback_url=f'https://example.com/cb/{index}/😀€Ж?q="%',
        )
        for index in range(21)
    ]
    answer = Reply(body=lambda body: {"message_id": 10_000 + text_index(body)})
    async with loopback(lambda _number, _path: answer) as server:
        build = make_client  # type: ignore[assignment]
        async with build(server.base_url, retry_policy=FAST_RETRIES) as client:  # type: ignore[operator]
            outcomes = [o async for o in client.send_many(messages)]
    assert sorted(o.index for o in outcomes) == list(range(21))
    assert [(o.index, o.error) for o in outcomes if not o.ok] == []
    assert all(o.message_id == 10_000 + o.index for o in outcomes)
    received = {text_index(body): json.loads(body) for body in server.bodies}
    assert sorted(received) == list(range(21))
    for index, body in received.items():
        message = messages[index]
        assert body["source_addr"] == message.sender
        assert body["text"] == message.text
        assert body["text_sms"] == message.sms_text
        assert body["callback_url"] == message.callback_url


# -- stopping early keeps every outcome ---------------------------------------------


class Accepting:
    """A plan that accepts every send with a fresh id and remembers the ids it gave."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def __call__(self, number: int, path: str) -> Reply:
        self.ids.append(number + 1)
        return Reply(body={"message_id": number + 1})

    async def until(self, count: int) -> None:
        for _ in range(2000):
            if len(self.ids) >= count:
                return
            await asyncio.sleep(0.005)


def check_nothing_accepted_is_lost(accepted: list[int], outcomes: list[object]) -> None:
    """Every id the server gave is in an outcome, except in-flight ones reported unknown."""
    indices = sorted(o.index for o in outcomes)  # type: ignore[attr-defined]
    assert indices == list(range(len(outcomes))), "one outcome per input taken"
    ids = [o.message_id for o in outcomes if o.ok]  # type: ignore[attr-defined]
    assert len(ids) == len(set(ids))
    assert set(ids) <= set(accepted)
    unknown = [
        o
        for o in outcomes
        if isinstance(o.error, TransportError) and o.error.outcome_unknown  # type: ignore[attr-defined]
    ]
    assert len(set(accepted) - set(ids)) <= len(unknown)
    assert len(unknown) <= 1 + 20  # at most the in-flight ones


def worker_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("send_many")]


async def test_closing_the_client_mid_run_keeps_every_accepted_outcome(
    make_client: object,
) -> None:
    plan = Accepting()
    async with loopback(plan) as server:
        build = make_client  # type: ignore[assignment]
        client = build(server.base_url, max_concurrency=20)  # type: ignore[operator]
        outcomes = client.send_many(make_messages(10_000), concurrency=20)
        got = []
        async for outcome in outcomes:
            got.append(outcome)
            if len(got) == 20:
                break
            await asyncio.sleep(0.01)  # a slow consumer: the workers run ahead
        await plan.until(39)
        await client.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await anext(outcomes)
        drained = [outcome async for outcome in outcomes.drain()]
        assert len(plan.ids) >= 39
        check_nothing_accepted_is_lost(plan.ids, got + drained)
        assert not worker_tasks()


async def test_aclosing_mid_run_keeps_every_accepted_outcome(make_client: object) -> None:
    plan = Accepting()
    async with loopback(plan) as server:
        build = make_client  # type: ignore[assignment]
        async with build(server.base_url, max_concurrency=20) as client:  # type: ignore[operator]
            outcomes = client.send_many(make_messages(10_000), concurrency=20)
            got = []
            async with contextlib.aclosing(outcomes):
                async for outcome in outcomes:
                    got.append(outcome)
                    if len(got) == 20:
                        await plan.until(39)
                        break
                    await asyncio.sleep(0.01)
            assert not worker_tasks()
            drained = [outcome async for outcome in outcomes.drain()]
            assert [o async for o in outcomes.drain()] == []  # each outcome once
    check_nothing_accepted_is_lost(plan.ids, got + drained)
    assert len(got) + len(drained) >= len(plan.ids)


async def test_draining_after_a_break_settles_every_request_and_aborts_the_rest(
    make_client: object,
) -> None:
    plan = Accepting()
    async with loopback(plan) as server:
        build = make_client  # type: ignore[assignment]
        async with build(server.base_url, max_concurrency=20) as client:  # type: ignore[operator]
            outcomes = client.send_many(make_messages(500), concurrency=20)
            got = []
            async for outcome in outcomes:
                got.append(outcome)
                if len(got) == 20:
                    break
                await asyncio.sleep(0.01)
            await plan.until(39)
            drained = [outcome async for outcome in outcomes.drain()]
            assert not worker_tasks()
    everything = got + drained
    assert sorted(o.index for o in everything) == list(range(500))
    # The requests that went out all settled: every accepted id is in an outcome.
    assert sorted(o.message_id for o in everything if o.ok) == sorted(plan.ids)
    rest = [o for o in everything if not o.ok]
    assert all(isinstance(o.error, CampaignAborted) for o in rest)
    assert len(rest) == 500 - len(plan.ids)


async def test_cancelling_the_consumer_mid_run_keeps_every_accepted_outcome(
    make_client: object,
) -> None:
    plan = Accepting()
    async with loopback(plan) as server:
        build = make_client  # type: ignore[assignment]
        async with build(server.base_url, max_concurrency=20) as client:  # type: ignore[operator]
            outcomes = client.send_many(make_messages(10_000), concurrency=20)
            got: list[object] = []
            twenty = asyncio.Event()

            async def consume() -> None:
                async for outcome in outcomes:
                    got.append(outcome)
                    if len(got) == 20:
                        twenty.set()
                    await asyncio.sleep(0.01)

            task = asyncio.create_task(consume())
            await twenty.wait()
            await plan.until(39)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            drained = [outcome async for outcome in outcomes.drain()]
            assert not worker_tasks()
    check_nothing_accepted_is_lost(plan.ids, got + drained)
    ok = [o for o in got + drained if o.ok]  # type: ignore[attr-defined]
    assert len(ok) >= 39


async def test_stop_ends_the_iteration_with_every_outcome(make_client: object) -> None:
    plan = Accepting()
    async with loopback(plan) as server:
        build = make_client  # type: ignore[assignment]
        async with build(server.base_url, max_concurrency=10) as client:  # type: ignore[operator]
            got = []
            async with client.send_many(make_messages(300), concurrency=10) as outcomes:
                async for outcome in outcomes:
                    got.append(outcome)
                    if len(got) == 30:
                        outcomes.stop()
                        sent_at_stop = len(plan.ids)
            assert not worker_tasks()
            assert [o async for o in outcomes.drain()] == []
    assert sorted(o.index for o in got) == list(range(300))
    assert sorted(o.message_id for o in got if o.ok) == sorted(plan.ids)
    assert len(plan.ids) <= sent_at_stop + 10  # nothing new after the stop but what was out
    aborted = [o.error for o in got if not o.ok]
    assert aborted
    assert all(isinstance(e, CampaignAborted) and e.cause is None for e in aborted)
    assert "stopped by the caller" in str(aborted[0])


async def test_a_run_dropped_with_accepted_outcomes_logs_their_ids(
    make_client: object, caplog: pytest.LogCaptureFixture
) -> None:
    plan = Accepting()
    async with loopback(plan) as server:
        build = make_client  # type: ignore[assignment]
        client = build(server.base_url, max_concurrency=5)  # type: ignore[operator]
        outcomes = client.send_many(make_messages(100), concurrency=5)
        first = await anext(outcomes)
        await plan.until(6)
        for _ in range(2000):  # the sixth answer settles; then every worker waits for a slot
            if client.in_flight == 0:
                break
            await asyncio.sleep(0.005)
        await client.aclose()
        with pytest.raises(RuntimeError, match=r"closed.*drain\(\)"):
            await anext(outcomes)
        del outcomes  # nobody can drain() it any more
        gc.collect()
    dropped = set(plan.ids) - {first.message_id}
    assert dropped
    assert "accepted message ids" in caplog.text
    for message_id in dropped:
        assert str(message_id) in caplog.text


async def test_get_statuses_closed_mid_run_hands_out_what_it_held(make_client: object) -> None:
    receipt = {"message_id": 1, "status": 1}
    release = asyncio.Event()

    async def plan(number: int, path: str) -> Reply:
        if number >= 3:
            await release.wait()  # look-ups left hanging: cut short by the close
        return Reply(body=receipt)

    async with loopback(plan) as server:
        build = make_client  # type: ignore[assignment]
        async with build(server.base_url, max_concurrency=5) as client:  # type: ignore[operator]
            outcomes = client.get_statuses(range(1, 1001), concurrency=5)
            first = await anext(outcomes)
            for _ in range(2000):
                if server.requests >= 6 and client.in_flight == 3:
                    break
                await asyncio.sleep(0.005)
            await outcomes.aclose()
            release.set()
            drained = [outcome async for outcome in outcomes.drain()]
            assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("get_statuses")]
    everything = [first, *drained]
    assert sorted(o.index for o in everything) == list(range(6))
    assert sum(o.ok for o in everything) == 3
    # A look-up cut short is safe to repeat: "not done", never "unknown".
    cut = [o for o in everything if not o.ok]
    assert cut
    assert all(isinstance(o.error, CampaignAborted) for o in cut)


# -- stop_when: the caller's own stop rule ----------------------------------------------


async def test_stop_when_stops_the_run_on_an_error_it_names(make_client: object) -> None:
    # A 400 fails only its own input by default; this caller stops on the first one.
    ids: list[int] = []

    def plan(number: int, path: str) -> Reply:
        if number == 20:
            return Reply(status=400, body=REFUSED)
        ids.append(number + 1)
        return Reply(body={"message_id": number + 1})

    async with loopback(plan) as server:
        build = make_client  # type: ignore[assignment]
        async with build(server.base_url, max_concurrency=5) as client:  # type: ignore[operator]
            seen: list[object] = []

            def refused(outcome: object) -> bool:
                seen.append(outcome)
                return isinstance(outcome.error, InvalidParameterError)  # type: ignore[attr-defined]

            outcomes = [
                o
                async for o in client.send_many(
                    make_messages(300), concurrency=5, stop_when=refused
                )
            ]
        assert not worker_tasks()
    assert sorted(o.index for o in outcomes) == list(range(300))
    (bad,) = [o for o in outcomes if isinstance(o.error, InvalidParameterError)]
    aborted = [o for o in outcomes if isinstance(o.error, CampaignAborted)]
    assert len(aborted) >= 300 - 21 - 5  # at most the 5 in flight went out after the stop
    assert all(o.error.cause is bad.error for o in aborted)  # type: ignore[union-attr]
    assert sorted(o.message_id for o in outcomes if o.ok) == sorted(ids)
    assert server.requests <= 21 + 5
    # The rule sees each outcome settled before the stop, not the aborted rest.
    assert not any(isinstance(o.error, CampaignAborted) for o in seen)  # type: ignore[attr-defined]


async def test_stop_when_can_stop_on_success(make_client: object) -> None:
    plan = Accepting()
    async with loopback(plan) as server:
        build = make_client  # type: ignore[assignment]
        async with build(server.base_url, max_concurrency=4) as client:  # type: ignore[operator]
            accepted = 0

            def enough(outcome: object) -> bool:
                nonlocal accepted
                accepted += outcome.ok  # type: ignore[attr-defined]
                return accepted >= 25

            outcomes = [o async for o in client.send_many(make_messages(200), stop_when=enough)]
    assert sorted(o.index for o in outcomes) == list(range(200))
    ok = [o for o in outcomes if o.ok]
    assert 25 <= len(ok) <= 25 + 4
    assert sorted(o.message_id for o in ok) == sorted(plan.ids)
    rest = [o.error for o in outcomes if not o.ok]
    assert rest
    assert all(isinstance(e, CampaignAborted) and e.cause is None for e in rest)


async def test_a_stop_when_that_raises_ends_the_run_after_its_outcomes(
    make_client: object,
) -> None:
    plan = Accepting()
    async with loopback(plan) as server:
        build = make_client  # type: ignore[assignment]
        async with build(server.base_url, max_concurrency=3) as client:  # type: ignore[operator]

            def broken(outcome: object) -> bool:
                if outcome.index == 10:  # type: ignore[attr-defined]
                    msg = "a bug in the rule"
                    raise LookupError(msg)
                return False

            got: list[object] = []
            outcomes = client.send_many(make_messages(100), stop_when=broken)

            async def consume() -> None:
                async for outcome in outcomes:
                    got.append(outcome)  # noqa: PERF401 - kept as they come, before the raise

            with pytest.raises(LookupError, match="a bug in the rule"):
                await consume()
        assert not worker_tasks()
    check_nothing_accepted_is_lost(plan.ids, got)
    assert 10 in {o.index for o in got}
    assert len(plan.ids) < 100


async def test_stop_when_must_be_callable() -> None:
    async with ViberClient("key") as client:
        with pytest.raises(TypeError, match="stop_when must be a callable"):
            client.send_many(make_messages(1), stop_when=True)  # type: ignore[arg-type]


async def test_a_run_says_what_stopped_it(make_client: object) -> None:
    topped_up = False

    def plan(number: int, path: str) -> Reply:
        if number >= 3 and not topped_up:
            return Reply(status=402, body=BALANCE_EMPTY)
        return Reply(body={"message_id": number + 1})

    async with loopback(plan) as server:
        build = make_client  # type: ignore[assignment]
        async with build(server.base_url, max_concurrency=1) as client:  # type: ignore[operator]
            stopped = client.send_many(make_messages(10))
            assert stopped.stopped_by is None
            got = [o async for o in stopped]
            # The last input stopped the run: no input is left to carry the cause.
            last = client.send_many(make_messages(1))
            last_got = [o async for o in last]
            topped_up = True
            caller = client.send_many(make_messages(10))
            async for _ in caller:
                caller.stop()
            fine = client.send_many(make_messages(0))
            assert [o async for o in fine] == []
    assert isinstance(stopped.stopped_by, InsufficientBalanceError)
    assert [o.error for o in got if isinstance(o.error, InsufficientBalanceError)] == [
        stopped.stopped_by
    ]
    assert isinstance(last.stopped_by, InsufficientBalanceError)
    assert not any(isinstance(o.error, CampaignAborted) for o in last_got)
    assert caller.stopped_by is None  # stopped by the caller, not by an error
    assert fine.stopped_by is None
