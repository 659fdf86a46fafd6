"""The learned rate's core on fake time, against a simulated rate-limited service.

The simulation is a token bucket (a tenth of a second's burst, ``Retry-After``
until the next token), answers arriving ``latency`` seconds after each
request, a client with more messages than the limit allows that honours the
shared ``Retry-After`` pause. Deterministic and instant, so these hold the
algorithm to the issue's own targets (0.9x the limit after 3 s, < 2% 429s,
<= 1.1x a dropped limit within 3 s); the loopback tests check the same on
real sockets with wider margins.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import statistics
from collections.abc import Callable

import attrs
import pytest

from decisiontelecom_async import SmsClient, ViberClient
from decisiontelecom_async._http._adaptive_rate import RateLearner


@attrs.define
class Simulation:
    accepted: collections.Counter[int] = attrs.Factory(collections.Counter)
    refused: collections.Counter[int] = attrs.Factory(collections.Counter)
    rates: list[float] = attrs.Factory(list)

    def accepted_per_second(self, first: int, last: int) -> float:
        return sum(self.accepted[w] for w in range(first, last + 1)) / (last - first + 1)

    @property
    def refused_share(self) -> float:
        total = sum(self.accepted.values()) + sum(self.refused.values())
        return sum(self.refused.values()) / total


def simulate(
    limit_at: Callable[[float], float], seconds: float, *, latency: float = 0.005
) -> Simulation:
    now = [0.0]
    learner = RateLearner(lambda: now[0])
    result = Simulation()
    tokens, refilled, resume = max(1.0, limit_at(0) / 10), 0.0, 0.0
    answers: list[tuple[float, int, bool, float, float]] = []
    sequence = 0

    def answer(until: float) -> None:
        nonlocal resume
        while answers and answers[0][0] <= until:
            at, _, ok, sent_at, retry_after = heapq.heappop(answers)
            now[0] = max(now[0], at)
            if ok:
                learner.on_success()
            else:
                learner.on_429(retry_after, sent_at)
                resume = max(resume, at + retry_after)

    while now[0] < seconds:
        # The throttle's shared pause first, then a place in the gate's line.
        answer(max(now[0], resume))
        if now[0] < resume:
            now[0] = resume
            continue
        at = learner.place()
        if at is None:
            wake = now[0] + learner.retry_in()
            answer(wake)
            now[0] = max(now[0], wake)
            continue
        answer(at)
        now[0] = max(now[0], at)
        sent_at = at
        limit = limit_at(now[0])
        tokens = min(max(1.0, limit / 10), tokens + (now[0] - refilled) * limit)
        refilled = now[0]
        window = int(now[0])
        ok = tokens >= 1
        if ok:
            tokens -= 1
            result.accepted[window] += 1
        else:
            result.refused[window] += 1
        retry_after = 0.0 if ok else (1 - tokens) / limit
        sequence += 1
        heapq.heappush(answers, (now[0] + latency, sequence, ok, sent_at, retry_after))
        if sequence % 20 == 0:
            result.rates.append(learner.rate)
    return result


@pytest.mark.parametrize("limit", [60.0, 150.0, 400.0, 1000.0])
@pytest.mark.parametrize("latency", [0.002, 0.05])
def test_it_finds_a_fixed_limit_and_holds_just_under_it(limit: float, latency: float) -> None:
    run = simulate(lambda _: limit, 10, latency=latency)
    assert run.accepted_per_second(3, 9) >= 0.9 * limit
    assert run.refused_share < 0.02
    # The rate it holds is just under the limit (it probes above now and then).
    assert 0.9 * limit <= statistics.median(run.rates[len(run.rates) // 3 :]) <= 1.05 * limit


@pytest.mark.parametrize("limit", [150.0, 400.0, 1000.0])
@pytest.mark.parametrize("latency", [0.002, 0.05])
def test_its_first_ceiling_is_put_right_within_seconds(limit: float, latency: float) -> None:
    # The first ceiling is measured while the rate still doubled, so it is
    # low; held for the usual 3 s before probing, seconds 2 to 4 ran at 0.93x
    # of a 400 limit, which a short campaign (the demo's) never made up.
    run = simulate(lambda _: limit, 5, latency=latency)
    assert run.accepted_per_second(2, 4) >= 0.95 * limit
    assert run.refused_share < 0.02


@pytest.mark.parametrize("limit", [5.0, 20.0])
def test_a_small_limit_is_found_with_fewer_answers_to_learn_from(limit: float) -> None:
    # A handful of answers a second make every measure coarse; still close.
    run = simulate(lambda _: limit, 20)
    assert run.accepted_per_second(5, 19) >= 0.6 * limit
    assert run.refused_share < 0.2


@pytest.mark.parametrize("latency", [0.002, 0.05])
def test_it_follows_a_drop_within_three_seconds(latency: float) -> None:
    run = simulate(lambda t: 150.0 if t < 5 else 60.0, 12, latency=latency)
    for window in range(8, 12):
        sent = run.accepted[window] + run.refused[window]
        assert sent <= 1.1 * 60, (window, sent)
    assert run.accepted_per_second(8, 11) >= 0.9 * 60


def test_it_finds_a_raised_limit_by_probing() -> None:
    run = simulate(lambda t: 60.0 if t < 5 else 150.0, 20)
    assert run.accepted_per_second(4, 4) <= 1.1 * 60
    assert run.accepted_per_second(17, 19) >= 0.8 * 150
    assert run.refused_share < 0.03


def test_a_client_that_sends_little_does_not_raise_its_rate() -> None:
    now = [0.0]
    learner = RateLearner(lambda: now[0])
    start = learner.rate
    for _ in range(100):  # one request a second, far under the rate
        now[0] += 1.0
        assert learner.place() == now[0]
        learner.on_success()
    assert learner.rate == start


def test_places_are_spaced_at_the_rate_and_handed_out_only_a_little_ahead() -> None:
    now = [10.0]
    learner = RateLearner(lambda: now[0], start=100.0)
    places = []
    while (at := learner.place()) is not None:
        places.append(at)
    # One place every 10 ms, handed out at most 50 ms ahead.
    assert places[0] == 10.0
    gaps = [b - a for a, b in itertools.pairwise(places)]
    assert gaps == pytest.approx([0.01] * len(gaps))
    assert places[-1] - now[0] <= 0.05
    assert learner.retry_in() == pytest.approx(0.01, abs=0.0011)
    # After a long idle time, a late timer's 25 ms are caught up, no more.
    now[0] = 20.0
    burst = [learner.place() for _ in range(4)]
    assert burst[:3] == [20.0, 20.0, 20.0]
    assert burst[3] == pytest.approx(20.005)


def test_echoes_of_the_old_rate_do_not_cut_again() -> None:
    now = [0.0]
    learner = RateLearner(lambda: now[0], start=100.0)
    sent = [learner.place() or 0.0 for _ in range(5)]
    for _ in range(50):
        now[0] += 0.01
        learner.on_success()
    learner.on_429(0.01, sent[-1])
    after_cut = learner.rate
    now[0] += 0.3
    learner.on_429(0.01, sent[0])  # sent before the cut
    assert learner.rate >= after_cut


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "fast", True])
def test_a_bad_rate_limit_is_refused_naming_the_option(bad: object) -> None:
    with pytest.raises(ValueError, match="rate_limit"):
        ViberClient("key", rate_limit=bad)  # type: ignore[arg-type]


async def test_rate_limit_reports_the_rate_in_force() -> None:
    async with ViberClient("key", rate_limit="auto") as auto, ViberClient("key") as free:
        assert isinstance(auto.rate_limit, float)
        assert free.rate_limit is None
    async with SmsClient("login", "password", rate_limit=25) as fixed:
        assert fixed.rate_limit == 25.0
