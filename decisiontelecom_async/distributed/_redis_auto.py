"""``RedisRateLimit(url, rate="auto")``: one learned rate for every process, kept in Redis.

The rules are
:class:`~decisiontelecom_async._http._adaptive_rate.RateLearner`'s (start at
20/s and double while used; on a 429 measure the rate the service accepted
and cut to 85% of it; climb back to 97%; probe after 3 s quiet, 1 s after
the first cut), run in Lua on the Redis server so that every process shares
one learner. The constants are the Python module's own, written into the
scripts below, so the two cannot drift;
``tests/distributed/test_redis_auto.py`` drives both with the same events on
one clock and asserts the same rate at every step.

Side by side, the Python learner and the shared one:

=====================  ===============================  ===============================
rule                   ``RateLearner`` (one process)    :data:`ACQUIRE` / :data:`CUT`
=====================  ===============================  ===============================
clock                  the process's monotonic clock    Redis ``TIME`` (every machine)
step (``_adjust``)     on ``place()`` and ``rate``      on every acquire, once a step
                                                        for *all* processes: the step
                                                        time is in Redis, so N
                                                        processes raise the rate no
                                                        faster than one
"used"                 places handed out in the step    the same, counted in Redis
accepted rate on 429   answers not 429 since the cut,   places sent since the cut,
                       over at most 0.5 s               minus the 429s reported for
                                                        them, over at most 0.5 s
echoes                 429 to a request sent before     the same, against the cut time
                       the last cut, or within 0.25 s   in Redis: N processes seeing one
                       of it, changes nothing           burst of 429s cut once
places ahead           at most 50 ms (else ask again)   at most 0.5 s (:data:`_AHEAD`,
                                                        else ask again): a place in
                                                        line, rarely a poll; a place
                                                        further than 50 ms ahead is
                                                        confirmed and given up if the
                                                        rate was cut (:data:`CONFIRM`)
=====================  ===============================  ===============================

State, under the limit's key (one hash tag, one Redis Cluster slot): the
line ``…:tat`` and the pause ``…:pause`` as for a fixed rate, the learner's
hash ``…:auto`` (rate, ceiling, step time, places this step, cut time, quiet
since, probe, epoch, the quiet time before a probe), and two sorted sets of
the last seconds' places and 429s, ``…:placed`` and ``…:refused``, for the
accepted rate. They expire :data:`_KEEP` after the last use, so a campaign
run again within the hour starts at the rate learned before.

Scripts take ``now`` (microseconds) as their last argument, empty for the
Redis clock: only the tests give one, to replay events on a fixed clock.
"""

from __future__ import annotations

from typing import Any

from decisiontelecom_async._http._adaptive_rate import (
    _CUT,
    _GROWTH,
    _MIN_ANSWERS,
    _MIN_RATE,
    _MIN_WINDOW,
    _PROBE_AFTER,
    _PROBE_AFTER_START,
    _PROBE_FIRST,
    _PROBE_MAX,
    _START,
    _STEP,
    _TARGET,
    _USED,
    _USED_TO_PROBE,
    _WINDOW,
)

__all__ = ["ACQUIRE", "CONFIRM", "CUT", "FULL", "PAUSED", "PLACE", "LearnedRate"]

PLACE, PAUSED, FULL = 0, 1, 2
"""What :meth:`LearnedRate.acquire` answered: a place, a shared pause, a full line."""

_KEEP = 3600.0
"""Seconds the learned rate is kept in Redis after the last request."""
_HORIZON = 0.05
"""Seconds ahead a place is taken without confirming it (``_redis_limit._HORIZON``)."""
_AHEAD = 0.5
"""Seconds ahead the line may reach; a caller beyond it asks again later.

A line of every waiting caller (processes x concurrency) at the start rate
reaches seconds ahead, and the rate could not grow until it drained: the
places handed out per step, which must show the rate used, would be only
those the line let go. Half a second holds the whole line once the rate is
in the hundreds (so one round trip a request), and lets it grow at once."""

_US = 1_000_000

_CLOCK = """
local now
if ARGV[#ARGV] ~= '' then
  now = tonumber(ARGV[#ARGV])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
"""

_LOAD = f"""
local s = redis.call('HMGET', KEYS[3], 'rate', 'ceiling', 'step_at', 'released',
  'cut_at', 'quiet_since', 'probe', 'epoch', 'probe_after')
local rate = tonumber(s[1]) or {_START!r}
local ceiling = tonumber(s[2])
local step_at = tonumber(s[3]) or now
local released = tonumber(s[4]) or 0
-- The first use counts as a cut: nothing is measured from before it.
local cut_at = tonumber(s[5]) or now
local quiet_since = tonumber(s[6]) or now
local probe = tonumber(s[7]) or {_PROBE_FIRST!r}
local epoch = tonumber(s[8]) or 0
local probe_after = tonumber(s[9]) or {_PROBE_AFTER * _US!r}
"""

_SAVE = f"""
-- Every digit kept: the learner compares a rate with its target exactly.
local function exact(x) return string.format('%.17g', x) end
local function save()
  local f = '%.0f'
  redis.call('HSET', KEYS[3], 'rate', exact(rate), 'step_at', string.format(f, step_at),
    'released', released, 'cut_at', string.format(f, cut_at),
    'quiet_since', string.format(f, quiet_since), 'probe', exact(probe), 'epoch', epoch,
    'probe_after', exact(probe_after))
  if ceiling then redis.call('HSET', KEYS[3], 'ceiling', exact(ceiling)) end
  for i = 3, #KEYS do redis.call('PEXPIRE', KEYS[i], {int(_KEEP * 1000)}) end
end
"""

ACQUIRE = (
    """
-- KEYS: tat, pause, auto, placed, refused. ARGV: now (us) or ''.
-- Returns {kind, wait us, rate, epoch, now us}: kind 0, the place in wait us;
-- 1, paused for wait us; 2, the line is full: ask again in wait us.
"""
    + _CLOCK
    + _LOAD
    + _SAVE
    + f"""
-- RateLearner._adjust, once a step for every process together.
local elapsed = now - step_at
if elapsed >= {_STEP * _US!r} then
  local used = released / (rate * elapsed / 1000000)
  step_at = now
  released = 0
  if not ceiling then
    if used >= {_USED!r} then rate = rate * {_GROWTH!r} end
  else
    local target = {_TARGET!r} * ceiling
    if rate < target then
      rate = math.min(target, rate + math.max((target - rate) / 2, {_MIN_RATE!r}))
    elseif used >= {_USED_TO_PROBE!r} and now - quiet_since >= probe_after
    then
      ceiling = ceiling * (1 + probe)
      probe = math.min({_PROBE_MAX!r}, probe * 2)
      rate = {_TARGET!r} * ceiling
    else
      rate = target
    end
  end
end
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if pause > now then
  save()
  return {{1, math.max(1, math.ceil(pause - now)), exact(rate), epoch, string.format('%.0f', now)}}
end
-- GCRA at the learned rate, as for a fixed one, but at most AHEAD long:
-- places given far ahead at an old rate would hold the new one back.
local at = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
if at - now > {_AHEAD * _US!r} then
  save()
  return {{2, math.ceil(at - now - {_AHEAD * _US!r}), exact(rate), epoch,
    string.format('%.0f', now)}}
end
local tat = at + 1000000 / rate
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX',
  math.ceil((tat - now) / 1000) + 1000)
released = released + 1
-- Places are unique times (the line only moves on), so a place is its own member.
redis.call('ZADD', KEYS[4], at, string.format('%.0f', at))
local span = math.max({_WINDOW * _US!r}, {2 * _MIN_ANSWERS * _US!r} / rate)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - span - 1000000)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - span - 1000000)
save()
return {{0, math.floor(at - now), exact(rate), epoch, string.format('%.0f', now)}}
"""
)

CUT = (
    """
-- KEYS: tat, pause, auto, placed, refused. ARGV: sent at (us, Redis clock), now or ''.
-- RateLearner.on_429. Returns {1 cut / 0 an echo, rate, epoch}.
"""
    + _CLOCK
    + _LOAD
    + _SAVE
    + f"""
local sent_at = tonumber(ARGV[1])
local n = redis.call('HINCRBY', KEYS[3], 'refusals', 1)
redis.call('ZADD', KEYS[5], sent_at, string.format('%.0f:%d', sent_at, n))
local least = math.max({_MIN_WINDOW * _US!r}, {_MIN_ANSWERS * _US!r} / rate)
if sent_at < cut_at or now - cut_at < least then
  save()
  return {{0, exact(rate), epoch}}
end
local span = math.max({_WINDOW * _US!r}, {2 * _MIN_ANSWERS * _US!r} / rate)
local since = math.max(now - span, cut_at)
local sent = redis.call('ZCOUNT', KEYS[4], since, now)
local refused = redis.call('ZCOUNT', KEYS[5], since, now)
local accepted = (sent - refused) / (math.max(now - since, 1000000 / rate) / 1000000)
-- Nothing accepted at all says little about the limit: halve instead.
local measured = rate / 2
if accepted > 0 then measured = math.min(accepted, rate) end
-- The first ceiling is measured while the rate still doubled: probe it soon.
probe_after = {_PROBE_AFTER_START * _US!r}
if ceiling then probe_after = {_PROBE_AFTER * _US!r} end
ceiling = math.max({_MIN_RATE!r}, measured)
rate = math.max({_MIN_RATE!r}, {_CUT!r} * ceiling)
cut_at = now
quiet_since = now
step_at = now
released = 0
probe = {_PROBE_FIRST!r}
epoch = epoch + 1
-- Places handed out at the old rate more than the horizon ahead are
-- confirmed before use and given up (CONFIRM): the line restarts there.
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local restart = now + {_HORIZON * _US!r}
if tat > restart then
  redis.call('SET', KEYS[1], string.format('%.0f', restart), 'PX', 1000 + {int(_HORIZON * 1000)})
end
save()
return {{1, exact(rate), epoch}}
"""
)

CONFIRM = (
    """
-- KEYS: pause, auto. ARGV: the epoch the place was given in, now or ''.
-- Returns 0: go; > 0: paused that many us more; -1: the rate was cut, ask again.
"""
    + _CLOCK
    + """
local pause = tonumber(redis.call('GET', KEYS[1]) or '0')
if pause > now then
  return math.max(1, math.ceil(pause - now))
end
if tonumber(redis.call('HGET', KEYS[2], 'epoch') or '0') ~= tonumber(ARGV[1]) then
  return -1
end
return 0
"""
)


class LearnedRate:
    """The three scripts of the shared learned rate, bound to one Redis and key.

    ``now`` (seconds, on any clock) replaces Redis's clock: tests only.
    """

    def __init__(self, redis: Any, key: str) -> None:
        self._acquire = redis.register_script(ACQUIRE)
        self._cut = redis.register_script(CUT)
        self._confirm = redis.register_script(CONFIRM)
        tag = "{" + key + "}"
        self._keys = [f"{tag}:{name}" for name in ("tat", "pause", "auto", "placed", "refused")]

    @staticmethod
    def _now(now: float | None) -> str:
        return "" if now is None else f"{now * _US:.0f}"

    async def acquire(self, now: float | None = None) -> tuple[int, float, float, int, float]:
        """One round trip: (kind, seconds, rate, epoch, Redis's clock in seconds).

        Kind :data:`PLACE`: the place is that many seconds ahead; :data:`PAUSED`:
        a shared pause has that long to go; :data:`FULL`: the line is full,
        ask again then. Redis's clock is for :meth:`cut`'s ``sent_at``.
        """
        kind, wait, rate, epoch, at = await self._acquire(keys=self._keys, args=[self._now(now)])
        return int(kind), int(wait) / _US, float(rate), int(epoch), int(at) / _US

    async def cut(self, sent_at: float, now: float | None = None) -> tuple[bool, float]:
        """One round trip: a 429 for the request sent at ``sent_at`` (Redis clock, seconds).

        Returns whether it cut the rate (False: an echo), and the rate in force.
        """
        cut, rate, _ = await self._cut(
            keys=self._keys, args=[f"{sent_at * _US:.0f}", self._now(now)]
        )
        return bool(int(cut)), float(rate)

    async def confirm(self, epoch: int, now: float | None = None) -> float | None:
        """One round trip: seconds of pause left (0: go), or None: the rate was cut."""
        answer = int(
            await self._confirm(keys=[self._keys[1], self._keys[2]], args=[epoch, self._now(now)])
        )
        return None if answer < 0 else answer / _US
