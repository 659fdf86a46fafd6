"""``RedisRateLimit``: one rate limit for every process that shares a Redis key.

How it holds ``rate`` requests a second across processes and machines:

* **One Lua script, one round trip per request.** Leave to send is decided
  by :data:`_ACQUIRE`, run with ``EVALSHA`` (redis-py's ``Script`` falls
  back to ``EVAL`` once if Redis forgot it), atomically on the Redis server
  and on the server's clock (``TIME``), so the machines' clocks never
  matter. It is GCRA in its virtual-scheduling form: the key ``…:tat`` holds
  the theoretical arrival time of the next request; a request gets the place
  ``max(tat, now)`` and moves ``tat`` on by ``1/rate``. No burst is allowed
  (a burst of N processes' worth would break the ceiling at every second's
  edge), so requests leave evenly spaced.
* **A place in line, not a poll.** Every caller is handed its place at
  once, however far ahead, and sleeps until it: no caller asks twice for
  one place, so the cost stays one round trip per request whatever the
  number of processes (polling for a free place costs one round trip per
  process per place). A place more than :data:`_HORIZON` ahead is
  confirmed just before it comes (:data:`_CONFIRM`, one more round trip
  for those requests only), so a pause that began meanwhile is honoured.
* **The 429 pause is shared.** A 429 (its ``Retry-After``, or the backoff
  when it has none) is written by :data:`_PAUSE` as the key ``…:pause``,
  holding the moment the pause ends and expiring then (``PX``), and moves
  the line behind it; the acquire script reads it and gives no place
  before it, so every process waits it out, then the held requests leave
  in line, not in a herd. The client that got the 429 pauses itself too
  (its throttle). Places due within :data:`_HORIZON` of the 429 may still
  leave. A place handed to a process that dies unused is lost (a gap of
  one request's time).
* **No Redis, no sending.** Any failure to reach Redis, a timeout
  (:data:`_TIMEOUT`) or an error reply raises :class:`SharedLimitError`
  naming Redis (its host, never its password): nothing is sent, and a bulk
  run stops. It never falls back to sending unlimited.
* **``rate="auto"``** keeps one learned rate in Redis for every process
  (``_redis_auto.py``: ``RateLearner``'s rules in Lua): each acquire takes
  its place at it and moves it on once a step; a 429 reported by any
  process cuts it once (:data:`~._redis_auto.CUT`, one more round trip for
  that request). A place given out more than :data:`_HORIZON` ahead is
  confirmed as for a pause, and given up if the rate was cut meanwhile.
* **The default key** is derived from the account (the client's base URL and
  its first credential: the Viber access key, the SMS login) with scrypt,
  a salt fixed to this use, and only 128 bits kept. Anyone who can read
  Redis sees the key name: a fast unsalted hash of an access key would let
  them test guesses at the key, or look it up in a table of other sites'
  hashes; scrypt makes each guess cost memory and time, and the salt makes
  the name useless anywhere else. Pass ``key=`` to share one limit between
  accounts, or to keep limits apart on one account.

Why not a library: the maintained limiters for asyncio Redis either poll
(a herd of round trips under contention) or have no notion of a pause the
service asks for; the GCRA here is twenty lines of Lua.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import random
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, Literal

from decisiontelecom_async._errors import SharedLimitError
from decisiontelecom_async._http._adaptive_rate import _START
from decisiontelecom_async.distributed._redis_auto import PAUSED, PLACE, LearnedRate

try:
    import redis.asyncio as aioredis
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import RedisError
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - only without the extra
    msg = 'RedisRateLimit needs redis-py: pip install "decisiontelecom-async[distributed]"'
    raise ImportError(msg) from exc

__all__ = ["RedisRateLimit"]

logger = logging.getLogger("decisiontelecom_async")

_HORIZON = 0.05
"""A place further ahead than this is confirmed before it is used; a pause
shared less than this before a place came may miss it."""
_TIMEOUT = 2.0
"""Seconds to connect to Redis, and for each reply, before giving up."""
_SALT = b"decisiontelecom-async/shared-rate-limit/v1"
"""Fixed salt of the default key: it only makes the derived name useless elsewhere."""
_PREFIX = "decisiontelecom-async:rate:"

_ACQUIRE = """
-- KEYS[1] tat, KEYS[2] pause; ARGV[1] interval (us).
-- Returns >= 0: the place, in that many us; < 0: paused, ask again in -that us.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if pause > now then
  return -math.max(1, math.ceil(pause - now))
end
local at = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local tat = at + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX',
  math.ceil((tat - now) / 1000) + 1000)
return math.floor(at - now)
"""

_PAUSE = """
-- KEYS[1] tat, KEYS[2] pause; ARGV[1] pause length (us). Only ever lengthens
-- the pause; the line starts again where it ends.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local resume = now + tonumber(ARGV[1])
local px = math.max(1, math.ceil(tonumber(ARGV[1]) / 1000))
if resume > tonumber(redis.call('GET', KEYS[2]) or '0') then
  redis.call('SET', KEYS[2], string.format('%.0f', resume), 'PX', px)
end
if resume > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], string.format('%.0f', resume), 'PX', px + 1000)
end
return 1
"""

_CONFIRM = """
-- KEYS[1] pause. Returns 0: no pause; > 0: paused for that many us more.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pause = tonumber(redis.call('GET', KEYS[1]) or '0')
if pause > now then
  return math.max(1, math.ceil(pause - now))
end
return 0
"""


def default_key(account: str) -> str:
    """The Redis key prefix for ``account``; not reversible to its credential."""
    digest = hashlib.scrypt(account.encode(), salt=_SALT, n=2**14, r=8, p=1, dklen=16)
    return _PREFIX + digest.hex()


def _check_url(url: object) -> str:
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in {
        "redis",
        "rediss",
        "unix",
    }:
        msg = "url must be a redis://, rediss:// or unix:// URL string"
        raise ValueError(msg)
    return url


def _shown_url(url: str) -> str:
    """``url`` without its user and password, for messages and repr."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _check_rate(rate: object) -> float | None:
    """The fixed rate, or None for ``"auto"``."""
    if rate == "auto":
        return None
    if (
        isinstance(rate, bool)
        or not isinstance(rate, int | float)
        or not (rate > 0 and math.isfinite(rate))
    ):
        msg = f'rate must be a positive number of requests per second or "auto", got {rate!r}'
        raise ValueError(msg)
    return float(rate)


def _check_key(key: object) -> str | None:
    if key is not None and (not isinstance(key, str) or not key):
        msg = f"key must be a non-empty string or None, got {key!r}"
        raise ValueError(msg)
    return key


class RedisRateLimit:
    """At most ``rate`` requests a second across every user of one Redis and key.

    Pass it as ``rate_limit=`` to a :class:`~decisiontelecom_async.ViberClient`
    or :class:`~decisiontelecom_async.SmsClient`, in any number of processes
    on any number of machines. A 429 answered to any of them pauses all of
    them for its ``Retry-After``. If Redis cannot be reached (or times out
    after 2 s), nothing is sent and the call fails with
    :class:`~decisiontelecom_async.distributed.SharedLimitError`.

    Args:
        url: the Redis URL (``redis://``, ``rediss://`` or ``unix://``).
        rate: requests per second, the total for every process; or
            ``"auto"``: one rate learned from the service's answers (as
            ``rate_limit="auto"`` does for one client) and kept in Redis,
            so every process sends at it and a 429 to any of them cuts it
            for all.
        key: the Redis key prefix; by default one derived from the account
            (never the credential itself), so clients of one account share
            a limit and other accounts do not.

    Raises:
        ValueError: a bad argument, or one instance with the default key
            given to clients of two accounts.
    """

    def __init__(self, url: str, *, rate: float | Literal["auto"], key: str | None = None) -> None:
        self._url = _check_url(url)
        fixed = _check_rate(rate)
        self._auto = fixed is None
        # With "auto", the rate in force as Redis last reported it.
        self._rate = _START if fixed is None else fixed
        self._learned: LearnedRate | None = None
        self._clock_offset = 0.0
        self._key = _check_key(key)
        self._explicit_key = self._key is not None
        self._account_digest: bytes | None = None
        self._users = 0
        self._redis: aioredis.Redis | None = None
        self._acquire_script: Any = None
        self._pause_script: Any = None
        self._confirm_script: Any = None
        self._pushes: set[asyncio.Task[None]] = set()
        self._on_pause: list[Callable[[float], None]] = []

    @property
    def rate(self) -> float:
        """The shared ceiling in force, requests per second for all processes together.

        With ``rate="auto"``, the learned rate as of this process's last
        request (20.0 before the first).
        """
        return self._rate

    @property
    def key(self) -> str | None:
        """The Redis key prefix (None until a client of an account uses the default)."""
        return self._key

    def __repr__(self) -> str:
        rate = "'auto'" if self._auto else f"{self._rate:g}"
        return f"RedisRateLimit({_shown_url(self._url)!r}, rate={rate}, key={self._key!r})"

    # -- the SharedGate side -------------------------------------------------------

    def bind(self, account: str, on_pause: Callable[[float], None]) -> None:
        """A client of ``account`` uses this limit; derive the default key from it."""
        if not self._explicit_key:
            # Compared by digest: the account string holds the credential.
            digest = hashlib.sha256(_SALT + account.encode()).digest()
            if self._account_digest is None:
                self._account_digest = digest
                self._key = default_key(account)
            elif digest != self._account_digest:
                msg = (
                    "this RedisRateLimit already limits another account: give each account "
                    "its own RedisRateLimit, or pass key= to share one limit between them"
                )
                raise ValueError(msg)
        self._users += 1
        self._on_pause.append(on_pause)

    def share_pause(self, seconds: float) -> None:
        """Write a pause of ``seconds`` to Redis for every process (in the background)."""
        self._in_background(self._push_pause(seconds))

    def _in_background(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._pushes.add(task)
        task.add_done_callback(self._pushes.discard)

    async def release(self, on_pause: Callable[[float], None]) -> None:
        """A client closed; the last one closes the Redis connections."""
        with contextlib.suppress(ValueError):
            self._on_pause.remove(on_pause)
        self._users = max(0, self._users - 1)
        if self._users:
            return
        if self._pushes:
            await asyncio.gather(*self._pushes, return_exceptions=True)
        client, self._redis = self._redis, None
        if client is not None:
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()

    # -- the RateGate side ---------------------------------------------------------

    async def acquire(self) -> float:
        """Wait for a place under the shared limit; return when it came (monotonic clock).

        Raises:
            SharedLimitError: Redis cannot be reached, timed out or refused.
        """
        self._connect()
        while True:
            wait, epoch = await self._ask()
            if wait < 0:
                if self._tell_pause(-wait):
                    return time.monotonic()
                await asyncio.sleep(-wait)
                continue
            due = time.monotonic() + wait
            if wait > _HORIZON:
                await asyncio.sleep(wait - _HORIZON)
                paused = await self._confirm(epoch)
                if paused is None:  # the learned rate was cut: a place at the new one
                    continue
                if paused > 0:  # the place fell in a pause: give it up
                    if self._tell_pause(paused):
                        return time.monotonic()
                    await asyncio.sleep(paused)
                    continue
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            return time.monotonic()

    def _tell_pause(self, seconds: float) -> bool:
        """Hand a shared pause to the clients; False when there are none to hold it."""
        # Each client's throttle then holds its requests back (and refuses a
        # pause longer than its policy waits); the caller comes back for a
        # place once it is over.
        for on_pause in list(self._on_pause):
            on_pause(seconds)
        return bool(self._on_pause)

    def on_success(self) -> None:
        """Nothing to do: the learned rate counts places given, not answers (no round trip)."""

    def on_429(self, retry_after: float | None, sent_at: float) -> None:
        """With ``"auto"``, report the 429 to the shared learner (in the background).

        The pause itself is :meth:`share_pause`'s; a fixed ceiling learns nothing.
        """
        del retry_after  # honoured by the shared pause
        if self._auto:
            self._in_background(self._report_429(sent_at + self._clock_offset))

    # -- Redis ---------------------------------------------------------------------

    def _connect(self) -> None:
        if self._key is None:
            msg = "RedisRateLimit is used through a client: pass it as rate_limit="
            raise RuntimeError(msg)
        if self._redis is None:
            self._redis = aioredis.Redis.from_url(
                self._url,
                socket_timeout=_TIMEOUT,
                socket_connect_timeout=_TIMEOUT,
                # A short, bounded retry: a blip passes, an outage fails in seconds.
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            )
            self._acquire_script = self._redis.register_script(_ACQUIRE)
            self._pause_script = self._redis.register_script(_PAUSE)
            self._confirm_script = self._redis.register_script(_CONFIRM)
            if self._auto:
                self._learned = LearnedRate(self._redis, self._key)

    def _keys(self) -> list[str]:
        # One hash tag: both keys live on the same slot of a Redis Cluster.
        return [f"{{{self._key}}}:tat", f"{{{self._key}}}:pause"]

    def _failure(self, exc: BaseException, doing: str) -> SharedLimitError:
        return SharedLimitError(
            f"the shared rate limit's Redis at {_shown_url(self._url)} could not {doing} "
            f"({type(exc).__name__}: {exc}); nothing was sent"
        )

    async def _ask(self) -> tuple[float, int]:
        """Seconds until the place (>= 0) or -seconds paused; the epoch.

        One round trip for a fixed rate; with ``"auto"`` one, or more while
        the line is full. The epoch is the learned rate's (0 for a fixed rate).
        """
        try:
            if self._learned is not None:
                return await self._ask_learned(self._learned)
            answer = await self._acquire_script(
                keys=self._keys(), args=[repr(1_000_000 / self._rate)]
            )
        except (RedisError, OSError, TimeoutError) as exc:
            raise self._failure(exc, "give leave to send") from None
        return int(answer) / 1_000_000, 0

    async def _ask_learned(self, learned: LearnedRate) -> tuple[float, int]:
        """:meth:`_ask` at the learned rate: round trips until a place or a pause."""
        while True:
            kind, wait, self._rate, epoch, redis_now = await learned.acquire()
            # Redis's clock minus ours, to within a round trip: a 429's
            # sent_at is compared with the cut time kept in Redis.
            self._clock_offset = redis_now - time.monotonic()
            if kind == PLACE:
                return wait, epoch
            if kind == PAUSED:
                return -wait, epoch
            # The line is full: come back when it has room, spread over one
            # place's time so the callers waiting do not all ask at once.
            await asyncio.sleep(wait + random.random() / self._rate)  # noqa: S311 - not secret

    async def _confirm(self, epoch: int) -> float | None:
        """One round trip: seconds of shared pause left (0: none), None: the rate was cut."""
        try:
            if self._learned is not None:
                return await self._learned.confirm(epoch)
            answer = await self._confirm_script(keys=self._keys()[1:])
        except (RedisError, OSError, TimeoutError) as exc:
            raise self._failure(exc, "confirm leave to send") from None
        return int(answer) / 1_000_000

    async def _report_429(self, sent_at: float) -> None:
        self._connect()
        learned = self._learned
        if learned is None:  # pragma: no cover - only "auto" reports
            return
        try:
            _, self._rate = await learned.cut(sent_at)
        except (RedisError, OSError, TimeoutError) as exc:
            # The next acquire meets the same trouble and stops the sending.
            logger.warning("%s", self._failure(exc, "learn from a 429").message_text)

    async def _push_pause(self, seconds: float) -> None:
        self._connect()
        try:
            await self._pause_script(
                keys=self._keys(), args=[max(1, math.ceil(seconds * 1_000_000))]
            )
        except (RedisError, OSError, TimeoutError) as exc:
            # The next acquire meets the same trouble and stops the sending.
            logger.warning("%s", self._failure(exc, "share a 429 pause").message_text)
