"""Slots: the client's concurrency bound, retries served ahead of first attempts."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import random

import httpx
import pytest
import respx
from conftest import ACCESS_KEY, FakeTime
from hypothesis import given, settings
from hypothesis import strategies as st

from decisiontelecom_async import ViberClient, ViberMessage
from decisiontelecom_async._slots import Slots


async def settle() -> None:
    """Let every task that can run, run (a handover takes a loop turn or two)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def immediate_acquisitions(slots: Slots, limit: int) -> int:
    """How many acquisitions succeed without waiting (at most ``limit``); all given back."""
    taken = 0
    while taken < limit:
        probe = asyncio.create_task(slots.acquire())
        await settle()
        if not probe.done():
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe
            break
        probe.result()
        taken += 1
    for _ in range(taken):
        slots.release()
    return taken


async def hold(slots: Slots, count: int) -> None:
    for _ in range(count):
        await slots.acquire()


async def waiter(slots: Slots, *, retry: bool) -> asyncio.Task[None]:
    """A task waiting for a slot, queued by the time this returns."""
    task = asyncio.create_task(slots.acquire(retry=retry))
    await settle()
    assert not task.done(), "expected the acquisition to wait"
    return task


# -- the bound ---------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 5])
async def test_never_more_holders_than_slots_under_many_tasks(size: int) -> None:
    slots = Slots(size)
    rng = random.Random(size)  # noqa: S311 - a schedule, not crypto
    holders = 0
    most = 0

    async def worker() -> None:
        nonlocal holders, most
        for _ in range(5):
            await slots.acquire(retry=rng.random() < 0.3)
            holders += 1
            most = max(most, holders)
            assert holders <= size
            for _ in range(rng.randrange(4)):
                await asyncio.sleep(0)
            holders -= 1
            slots.release()

    async with asyncio.timeout(5):
        await asyncio.gather(*(worker() for _ in range(40)))
    assert most == size
    assert await immediate_acquisitions(slots, size + 1) == size


@pytest.mark.parametrize("size", [1, 3])
async def test_free_slots_are_taken_at_once_then_acquire_waits(size: int) -> None:
    slots = Slots(size)
    assert await immediate_acquisitions(slots, size + 1) == size
    await hold(slots, size)
    late = await waiter(slots, retry=True)
    slots.release()
    await settle()
    assert late.done()


async def test_a_slot_handed_over_is_not_taken_again_by_a_newcomer() -> None:
    slots = Slots(1)
    await hold(slots, 1)
    first = await waiter(slots, retry=False)
    slots.release()  # the slot now belongs to `first`, which has not run yet
    newcomer = asyncio.create_task(slots.acquire(retry=True))
    await settle()
    assert first.done()
    assert not newcomer.done()
    slots.release()
    await settle()
    assert newcomer.done()
    slots.release()
    assert await immediate_acquisitions(slots, 2) == 1


# -- ordering ----------------------------------------------------------------------


async def test_retries_go_first_then_first_attempts_each_in_arrival_order() -> None:
    slots = Slots(1)
    await hold(slots, 1)
    order: list[str] = []

    async def take(name: str, *, retry: bool) -> None:
        await slots.acquire(retry=retry)
        order.append(name)
        slots.release()

    arrivals = [
        ("first-1", False),
        ("retry-1", True),
        ("first-2", False),
        ("retry-2", True),
        ("first-3", False),
        ("retry-3", True),
    ]
    tasks = []
    for name, retry in arrivals:
        tasks.append(asyncio.create_task(take(name, retry=retry)))
        await settle()
    assert order == []
    slots.release()
    async with asyncio.timeout(5):
        await asyncio.gather(*tasks)
    assert order == ["retry-1", "retry-2", "retry-3", "first-1", "first-2", "first-3"]
    assert await immediate_acquisitions(slots, 2) == 1


async def test_a_retry_arriving_later_overtakes_first_attempts_already_waiting() -> None:
    slots = Slots(2)
    await hold(slots, 2)
    firsts = [await waiter(slots, retry=False) for _ in range(3)]
    slots.release()
    await settle()
    assert [task.done() for task in firsts] == [True, False, False]
    retry = await waiter(slots, retry=True)
    slots.release()
    await settle()
    assert retry.done()
    assert [task.done() for task in firsts] == [True, False, False]
    slots.release()
    await settle()
    assert [task.done() for task in firsts] == [True, True, False]


# -- cancellation ------------------------------------------------------------------


@pytest.mark.parametrize("retry", [False, True])
@pytest.mark.parametrize("released_before_it_runs", [False, True])
async def test_a_cancelled_waiter_leaves_the_queue_without_a_slot(
    retry: bool, released_before_it_runs: bool
) -> None:
    slots = Slots(2)
    await hold(slots, 2)
    cancelled = await waiter(slots, retry=retry)
    behind = await waiter(slots, retry=False)
    cancelled.cancel()
    if not released_before_it_runs:
        await settle()
    # Either way the slot goes to the waiter behind, not to the cancelled one.
    slots.release()
    await settle()
    assert cancelled.cancelled()
    assert behind.done()
    slots.release()
    slots.release()
    assert await immediate_acquisitions(slots, 3) == 2


@pytest.mark.parametrize("retry", [False, True])
async def test_a_waiter_cancelled_with_no_one_behind_frees_nothing_it_never_had(
    retry: bool,
) -> None:
    slots = Slots(2)
    await hold(slots, 2)
    cancelled = await waiter(slots, retry=retry)
    cancelled.cancel()
    await settle()
    assert cancelled.cancelled()
    # Both slots are still held: nothing may be taken until one comes back.
    assert await immediate_acquisitions(slots, 1) == 0
    slots.release()
    slots.release()
    assert await immediate_acquisitions(slots, 3) == 2


@pytest.mark.parametrize("size", [1, 2])
@pytest.mark.parametrize("retry", [False, True])
async def test_a_waiter_cancelled_at_handover_frees_its_slot(size: int, retry: bool) -> None:
    slots = Slots(size)
    await hold(slots, size)
    cancelled = await waiter(slots, retry=retry)
    slots.release()  # handed to `cancelled`...
    cancelled.cancel()  # ...which is cancelled before it could run
    await settle()
    assert cancelled.cancelled()
    assert await immediate_acquisitions(slots, 1) == 1
    for _ in range(size - 1):
        slots.release()
    assert await immediate_acquisitions(slots, size + 1) == size


@pytest.mark.parametrize(
    ("cancelled_retry", "behind_retry"), [(True, True), (True, False), (False, False)]
)
async def test_a_waiter_cancelled_at_handover_passes_the_slot_on(
    cancelled_retry: bool, behind_retry: bool
) -> None:
    slots = Slots(1)
    await hold(slots, 1)
    cancelled = await waiter(slots, retry=cancelled_retry)
    behind = await waiter(slots, retry=behind_retry)
    last = await waiter(slots, retry=False)
    slots.release()
    cancelled.cancel()
    async with asyncio.timeout(5):
        await behind  # no deadlock: the slot was passed on
    assert cancelled.cancelled()
    assert not last.done()
    slots.release()
    await settle()
    assert last.done()
    slots.release()
    assert await immediate_acquisitions(slots, 2) == 1


async def test_several_waiters_cancelled_at_once_at_handover_lose_no_slot() -> None:
    slots = Slots(2)
    await hold(slots, 2)
    waiters = [await waiter(slots, retry=n % 2 == 0) for n in range(4)]
    slots.release()
    slots.release()  # both slots handed to the first two retries
    for task in waiters[:3]:
        task.cancel()
    await settle()
    assert [task.cancelled() for task in waiters] == [True, True, True, False]
    assert waiters[3].done()
    # One slot passed on to the survivor, the other is free again.
    assert await immediate_acquisitions(slots, 2) == 1
    slots.release()
    assert await immediate_acquisitions(slots, 3) == 2


# -- a model of the rules, checked against random schedules -------------------------


class Model:
    """The documented rules, step by step, for a schedule driven from outside."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.free = size
        self.holders: set[int] = set()
        self.retries: collections.deque[int] = collections.deque()
        self.first_attempts: collections.deque[int] = collections.deque()

    @property
    def waiting(self) -> set[int]:
        return {*self.retries, *self.first_attempts}

    def acquire(self, name: int, *, retry: bool) -> None:
        if self.free and not self.waiting:
            self.free -= 1
            self.holders.add(name)
        else:
            (self.retries if retry else self.first_attempts).append(name)

    def release(self) -> None:
        for queue in (self.retries, self.first_attempts):
            if queue:
                self.holders.add(queue.popleft())
                return
        self.free += 1
        assert self.free <= self.size

    def cancel(self, name: int) -> None:
        if name in self.holders:  # handed a slot it never got to use: passed on
            self.holders.remove(name)
            self.release()
        elif name in self.retries:
            self.retries.remove(name)
        else:
            self.first_attempts.remove(name)


# (operation, argument, settle afterwards): acquire's argument is `retry`,
# release's and cancel's pick the holder or waiter concerned.
Step = tuple[str, int, bool]

steps = st.one_of(
    st.tuples(st.just("acquire"), st.integers(0, 1), st.just(True)),
    st.tuples(st.just("release"), st.integers(0, 7), st.booleans()),
    st.tuples(st.just("cancel"), st.integers(0, 15), st.booleans()),
)


class Schedule:
    """Real slots and the model, driven through the same steps and compared."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.slots = Slots(size)
        self.model = Model(size)
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.released: set[int] = set()
        self.cancelled: set[int] = set()

    def holding(self) -> set[int]:
        return {
            name
            for name, task in self.tasks.items()
            if task.done() and not task.cancelled() and name not in self.released
        }

    def pending(self) -> set[int]:
        return {name for name, task in self.tasks.items() if not task.done()}

    def check(self) -> None:
        assert len(self.holding()) <= self.size
        assert self.holding() == self.model.holders
        assert self.pending() == self.model.waiting

    def acquire(self, *, retry: bool) -> None:
        name = len(self.tasks)
        self.tasks[name] = asyncio.create_task(self.slots.acquire(retry=retry))
        self.model.acquire(name, retry=retry)

    def release(self, index: int) -> bool:
        holders = sorted(self.holding())
        if not holders:
            return False
        name = holders[index % len(holders)]
        assert name in self.model.holders
        self.released.add(name)
        self.slots.release()
        self.model.holders.remove(name)
        self.model.release()
        return True

    def cancel(self, index: int) -> None:
        candidates = sorted(self.pending() - self.cancelled)
        if candidates:
            name = candidates[index % len(candidates)]
            self.tasks[name].cancel()
            self.cancelled.add(name)
            self.model.cancel(name)

    async def run(self, schedule: list[Step]) -> None:
        for operation, argument, then_settle in schedule:
            if operation == "acquire":
                self.acquire(retry=bool(argument))
            elif operation == "release":
                self.release(argument)
            else:
                self.cancel(argument)
            if then_settle:
                await settle()
                self.check()
        await settle()
        self.check()
        # Everyone still waiting gets a slot in turn; nobody waits forever.
        while self.pending():
            assert self.release(0), "tasks wait while no one holds a slot"
            await settle()
            self.check()
        assert all(self.tasks[name].cancelled() for name in self.cancelled)
        for _ in self.holding():
            self.slots.release()
        assert await immediate_acquisitions(self.slots, self.size + 1) == self.size


@settings(max_examples=300, deadline=None)
@given(size=st.integers(1, 3), schedule=st.lists(steps, max_size=40))
def test_any_schedule_of_acquire_release_cancel_follows_the_rules(
    size: int, schedule: list[Step]
) -> None:
    asyncio.run(Schedule(size).run(schedule))


# -- why it exists: a retried request is not sent after the queue --------------------


@pytest.mark.parametrize("retry_after", ["0", "0.05"])
async def test_a_retried_send_goes_out_before_first_attempts_queued_behind_it(
    api: respx.MockRouter, fake_time: FakeTime, retry_after: str
) -> None:
    # The service promised the refused request a turn: a first attempt sent
    # between the 429 and the retry would spend it, and earn the retry
    # another 429 (a busy campaign then runs a message out of retries).
    order: list[str] = []
    answer_first = asyncio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        receiver = json.loads(request.content)["destination_addr"]
        order.append(receiver)
        if order == ["1"]:
            await answer_first.wait()
            return httpx.Response(
                429,
                headers={"Retry-After": retry_after},
                json={
                    "name": "Too Many Requests",
                    "message": "slow down",
                    "code": 0,
                    "status": 429,
                },
            )
        return httpx.Response(200, json={"message_id": int(receiver)})

    api.post("/send-viber").mock(side_effect=answer)
    async with ViberClient(ACCESS_KEY, max_concurrency=1) as client:
        client._sleep = fake_time.sleep
        client._clock = fake_time.clock
        first = asyncio.create_task(client.send(ViberMessage("Shop", "1", "hi")))
        await settle()
        queued = [
            asyncio.create_task(client.send(ViberMessage("Shop", str(n), "hi")))
            for n in range(2, 6)
        ]
        await settle()
        assert order == ["1"]  # one slot: the others wait for it
        answer_first.set()
        async with asyncio.timeout(5):
            ids = await asyncio.gather(first, *queued)
    assert ids == [1, 2, 3, 4, 5]
    # First come, first served would have sent it last: ["1", "2", "3", "4", "5", "1"];
    # a slot handed to the next first attempt, second: ["1", "2", "1", "3", "4", "5"].
    assert order == ["1", "1", "2", "3", "4", "5"]
