"""The sandbox's memory: simulated time, message records, statuses over time.

A message's whole future is drawn once, when it is accepted (its delays, its
fate, its SMS fallback, its 2-Way reply), from random streams seeded by the
sandbox's seed. Its status at any moment is then computed from the record, so
nothing has to tick for ``receive-viber`` to be right. Only messages with a
``callback_url`` keep an entry in the event heap, one at a time, so the
sandbox knows when to POST the next change.

Records are small slotted objects; request bodies are kept only for the most
recent messages, and everything older than the status window is dropped, so a
run of hundreds of thousands of messages stays within tens of megabytes.

The callback bodies (:func:`_receipt_body`, :meth:`SandboxState._reply_body`)
are written here from the vendor page, on purpose not through
:func:`~decisiontelecom_async.callbacks._parse.callback_to_wire`: an
independent encoding is what catches the SDK's parser and encoder drifting
from the page together. A test holds the two to the same bodies.
"""

from __future__ import annotations

import collections
import enum
import heapq
import random
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

import attrs

from decisiontelecom_async._enums import SmsStatus, ViberStatus

if TYPE_CHECKING:
    from decisiontelecom_async.sandbox._config import SandboxConfig

__all__ = [
    "MAX_ID",
    "MIN_ID",
    "EventKind",
    "SandboxClock",
    "SandboxMessage",
    "SandboxState",
    "Span",
    "seeded_random",
]

MIN_ID: Final = 10**9
"""The smallest id the sandbox hands out (ids look like the service's: big)."""
MAX_ID: Final = 2**63 - 1
"""The largest: ids fit a signed 64-bit integer, as the vendor SDKs store them."""

Span = float | tuple[float, float]
"""Seconds: a fixed value, or ``(low, high)`` for a uniform draw."""


def seeded_random(seed: int, stream: str) -> random.Random:
    """An independent random stream for one knob, from the sandbox's seed.

    Each knob draws from its own stream, so turning one knob on or off never
    changes what another knob decides.
    """
    return random.Random(f"decisiontelecom-sandbox:{seed}:{stream}")  # noqa: S311 - simulation, not crypto


def draw(rng: random.Random, span: Span) -> float:
    """A duration from ``span``: the value itself, or a uniform draw."""
    if isinstance(span, tuple):
        low, high = span
        return rng.uniform(low, high)
    return float(span)


class SandboxClock:
    """The sandbox's simulated time, in Unix seconds.

    It runs at ``time_scale`` times real time (``0`` freezes it) plus every
    :meth:`advance`, and never goes backwards. Statuses, the 5-day window and
    callback timing all read it; rate limiting and latency use real time.
    """

    def __init__(
        self,
        start: float,
        time_scale: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._start = start
        self._time_scale = time_scale
        self._monotonic = monotonic
        self._origin = monotonic()
        self._offset = 0.0

    @property
    def time_scale(self) -> float:
        """How many simulated seconds pass per real second."""
        return self._time_scale

    def now(self) -> float:
        """The simulated time, as Unix seconds."""
        return self._start + self._offset + self._time_scale * (self._monotonic() - self._origin)

    def advance(self, seconds: float) -> None:
        """Move simulated time forward by ``seconds`` (callbacks wait for the next flush)."""
        if not seconds >= 0:
            msg = f"the sandbox clock only moves forward; got {seconds!r} seconds"
            raise ValueError(msg)
        self._offset += seconds

    def advance_to(self, when: float) -> None:
        """Move simulated time forward to ``when`` (nothing happens if it is past)."""
        self._offset += max(0.0, when - self.now())

    def __repr__(self) -> str:
        return f"<SandboxClock now={self.now():.3f} time_scale={self._time_scale}>"


class Fate(enum.IntEnum):
    """How a Viber message ends."""

    DELIVERED = 1
    REJECTED = 3
    UNDELIVERED = 4


class EventKind(enum.Enum):
    """Something the sandbox tells a ``callback_url`` about."""

    STATUS = "status"
    REPLY = "reply"


@attrs.frozen
class SandboxMessage:
    """A Viber message the sandbox accepted, as it stands at one moment.

    :attr:`request` is the JSON body as it was posted (kept for the most
    recent ``keep_bodies`` messages only, else ``None``).
    """

    message_id: int
    """The id the sandbox assigned."""
    accepted_at: float
    """Simulated Unix time of acceptance."""
    status: ViberStatus
    """The Viber status now."""
    sms_message_id: int | None
    """The SMS fallback's id, once Viber gave up and ``text_sms`` was set."""
    sms_status: SmsStatus | None
    """The SMS fallback's status, once it is final."""
    receiver: str
    """``destination_addr`` as posted, as a string."""
    callback_url: str | None
    """Where status changes and 2-Way replies are POSTed."""
    request: dict[str, Any] | None = attrs.field(eq=False, repr=False)
    """The posted body, if still kept."""


class _ViberRecord:
    """What the sandbox remembers of one Viber message (its future included)."""

    __slots__ = (
        "callback_url",
        "created",
        "delay",
        "fate",
        "final_at",
        "message_id",
        "receiver",
        "reply_at",
        "sms_delivered",
        "sms_id",
    )

    def __init__(
        self,
        *,
        message_id: int,
        created: float,
        receiver: str,
        callback_url: str | None,
        fate: Fate,
        delay: float,
        final_at: float,
        sms_id: int | None,
        sms_delivered: bool,
        reply_at: float | None,
    ) -> None:
        self.message_id = message_id
        self.created = created
        self.receiver = receiver
        self.callback_url = callback_url
        self.fate = fate
        self.delay = delay
        self.final_at = final_at
        self.sms_id = sms_id
        self.sms_delivered = sms_delivered
        self.reply_at = reply_at

    # Two moments are derived rather than stored: a record is kept for every
    # message of the window, and every float slot costs 24 bytes more.
    @property
    def sent_at(self) -> float:
        """When the message goes from pending to sent (never after its end)."""
        return min(self.created + self.delay / 2, self.final_at)

    @property
    def sms_final_at(self) -> float:
        """When the SMS fallback reaches its final status."""
        return self.final_at + self.delay

    def status_at(self, when: float) -> tuple[ViberStatus, int | None, SmsStatus | None]:
        """The Viber status, SMS id and SMS status at simulated time ``when``."""
        if when >= self.final_at:
            status = ViberStatus(self.fate)
        elif when >= self.sent_at:
            status = ViberStatus.SENT
        else:
            return ViberStatus.PENDING, None, None
        if self.sms_id is None or when < self.final_at:
            return status, None, None
        if when < self.sms_final_at:
            return status, self.sms_id, None
        sms_status = SmsStatus.DELIVERED if self.sms_delivered else SmsStatus.UNDELIVERABLE
        return status, self.sms_id, sms_status

    def timeline(self) -> list[tuple[float, EventKind]]:
        """Every moment something changes that a callback reports, in order."""
        events: list[tuple[float, EventKind]] = []
        if self.fate is not Fate.REJECTED:
            events.append((self.sent_at, EventKind.STATUS))
        events.append((self.final_at, EventKind.STATUS))
        if self.sms_id is not None:
            events.append((self.sms_final_at, EventKind.STATUS))
        if self.reply_at is not None:
            events.append((self.reply_at, EventKind.REPLY))
        events.sort(key=lambda event: event[0])
        return events


class _SmsRecord:
    """One message sent through the SMS API."""

    __slots__ = ("created", "delivered", "final_at")

    def __init__(self, created: float, final_at: float, delivered: bool) -> None:
        self.created = created
        self.final_at = final_at
        self.delivered = delivered

    def status_at(self, when: float) -> SmsStatus:
        if when < self.final_at:
            return SmsStatus.ACCEPTED
        return SmsStatus.DELIVERED if self.delivered else SmsStatus.UNDELIVERABLE


@attrs.frozen
class Event:
    """A change due at ``when`` that a ``callback_url`` is told about."""

    when: float
    kind: EventKind
    url: str
    message_id: int
    body: dict[str, Any]


class SandboxState:
    """Every message the sandbox accepted in the status window, and their futures."""

    def __init__(self, config: SandboxConfig, clock: SandboxClock) -> None:
        # The shares, delays and limits are read from ``config`` where they are
        # used; only what changes while the sandbox runs is held here.
        seed = config.seed
        self.clock = clock
        self.config = config
        self.status_window = config.status_window.total_seconds()
        self.sms_money = config.sms_balance
        self.sends_left = config.balance
        self._ids = seeded_random(seed, "ids")
        self._fates = seeded_random(seed, "fate")
        self._delays = seeded_random(seed, "delay")
        self._sms = seeded_random(seed, "sms")
        self._replies = seeded_random(seed, "reply")
        self._tokens = seeded_random(seed, "message_token")
        self._viber: dict[int, _ViberRecord] = {}
        self._sms_api: dict[int, _SmsRecord] = {}
        self._bodies: dict[int, dict[str, Any]] = {}
        # Ids in arrival order. Forgetting the oldest goes through these, not
        # next(iter(dict)): after many deletions at its front, a dict's
        # iteration skips every deleted slot, and pruning turns quadratic.
        self._viber_order: collections.deque[int] = collections.deque()
        self._sms_order: collections.deque[int] = collections.deque()
        self._body_order: collections.deque[int] = collections.deque()
        self._events: list[tuple[float, int, int, int]] = []
        self._event_seq = 0

    # -- ids and the window ----------------------------------------------------

    def _new_id(self) -> int:
        while True:
            candidate = self._ids.randint(MIN_ID, MAX_ID)
            if candidate not in self._viber and candidate not in self._sms_api:
                return candidate

    def prune(self) -> None:
        """Forget messages older than the status window (the oldest come first)."""
        horizon = self.clock.now() - self.status_window
        for order, store in (
            (self._viber_order, self._viber),
            (self._sms_order, self._sms_api),
        ):
            while order and store[order[0]].created < horizon:
                del store[order.popleft()]

    @property
    def viber_count(self) -> int:
        """How many Viber messages are in the window."""
        return len(self._viber)

    @property
    def sms_count(self) -> int:
        """How many SMS API messages are in the window."""
        return len(self._sms_api)

    def take_send(self) -> bool:
        """Spend one accepted send from the balance; False when it is used up."""
        if self.sends_left is None:
            return True
        if self.sends_left <= 0:
            return False
        self.sends_left -= 1
        return True

    # -- Viber -----------------------------------------------------------------

    def accept_viber(
        self,
        body: dict[str, Any],
        *,
        receiver: str,
        callback_url: str | None,
        ttl: int | None,
        two_way: bool,
        sms_fallback: bool,
    ) -> int:
        """Store a validated ``send-viber`` body; return its new id."""
        self.prune()
        now = self.clock.now()
        outcomes = self.config
        delay = draw(self._delays, outcomes.delivery_delay)
        roll = self._fates.random()
        if roll < outcomes.rejected_share:
            fate = Fate.REJECTED
        elif roll < outcomes.rejected_share + outcomes.undelivered_share:
            fate = Fate.UNDELIVERED
        else:
            fate = Fate.DELIVERED
        final_at = now + delay
        if fate is Fate.DELIVERED and ttl is not None and ttl < delay:
            # Not delivered within its time to live: the service gives up.
            fate, final_at = Fate.UNDELIVERED, now + ttl
        if fate is Fate.REJECTED:
            # Refused outright: it never reaches "sent".
            final_at = now + delay / 2
        # Every draw is made for every message, used or not, so one message's
        # fate never shifts the random streams of the messages after it.
        sms_candidate = self._sms.randint(MIN_ID, MAX_ID)
        sms_delivered = self._sms.random() < outcomes.sms_delivered_share
        sms_id = sms_candidate if sms_fallback and fate is not Fate.DELIVERED else None
        replies = self._replies.random() < outcomes.reply_share
        reply_delay = draw(self._replies, outcomes.reply_delay)
        reply_at: float | None = None
        if two_way and callback_url is not None and fate is Fate.DELIVERED and replies:
            reply_at = final_at + reply_delay
        message_id = self._new_id()
        record = _ViberRecord(
            message_id=message_id,
            created=now,
            receiver=receiver,
            callback_url=callback_url,
            fate=fate,
            delay=delay,
            final_at=final_at,
            sms_id=sms_id,
            sms_delivered=sms_delivered,
            reply_at=reply_at,
        )
        self._viber[message_id] = record
        self._viber_order.append(message_id)
        if self.config.keep_bodies:
            self._bodies[message_id] = body
            self._body_order.append(message_id)
            while len(self._body_order) > self.config.keep_bodies:
                del self._bodies[self._body_order.popleft()]
        if callback_url is not None:
            self._schedule(record, 0)
        return message_id

    def _live(self, message_id: int) -> _ViberRecord | None:
        record = self._viber.get(message_id)
        if record is None or record.created < self.clock.now() - self.status_window:
            return None
        return record

    def receipt(self, message_id: int) -> dict[str, Any] | None:
        """The ``receive-viber`` answer for ``message_id``; None if unknown or expired."""
        record = self._live(message_id)
        if record is None:
            return None
        return _receipt_body(record, self.clock.now())

    def message(self, message_id: int) -> SandboxMessage | None:
        """A snapshot of one message; None if unknown or expired."""
        record = self._live(message_id)
        return None if record is None else self._snapshot(record)

    def messages(self) -> Iterator[SandboxMessage]:
        """Snapshots of every message in the window, oldest first."""
        self.prune()
        for message_id in list(self._viber_order):
            record = self._viber[message_id]
            yield self._snapshot(record)

    def _snapshot(self, record: _ViberRecord) -> SandboxMessage:
        status, sms_id, sms_status = record.status_at(self.clock.now())
        return SandboxMessage(
            message_id=record.message_id,
            accepted_at=record.created,
            status=status,
            sms_message_id=sms_id,
            sms_status=sms_status,
            receiver=record.receiver,
            callback_url=record.callback_url,
            request=self._bodies.get(record.message_id),
        )

    # -- callback events -------------------------------------------------------

    def _schedule(self, record: _ViberRecord, index: int) -> None:
        timeline = record.timeline()
        if index < len(timeline):
            self._event_seq += 1
            heapq.heappush(
                self._events, (timeline[index][0], self._event_seq, record.message_id, index)
            )

    def next_event_time(self) -> float | None:
        """When the next callback-worthy change is due (None: nothing scheduled)."""
        return self._events[0][0] if self._events else None

    def due_events(self, now: float) -> list[Event]:
        """Every change due by ``now``, in time order, each with its callback body."""
        fired: list[Event] = []
        while self._events and self._events[0][0] <= now:
            when, _, message_id, index = heapq.heappop(self._events)
            record = self._viber.get(message_id)
            if record is None or record.callback_url is None:
                continue
            kind = record.timeline()[index][1]
            body = (
                self._reply_body(record, when)
                if kind is EventKind.REPLY
                else _receipt_body(record, when)
            )
            fired.append(Event(when, kind, record.callback_url, message_id, body))
            self._schedule(record, index + 1)
        return fired

    def _reply_body(self, record: _ViberRecord, when: float) -> dict[str, Any]:
        return {
            "message_token": self._tokens.randint(MIN_ID, MAX_ID),
            "phone_number": record.receiver,
            "time": int(when),
            "message": {
                "text": self._replies.choice(self.config.reply_texts),
                "tracking_data": f"tracking_id:{record.message_id}",
            },
        }

    # -- SMS API ---------------------------------------------------------------

    def sms_parts_affordable(self, parts: int) -> bool:
        """Whether the SMS balance pays for ``parts`` SMS."""
        return self.sms_money >= self.config.sms_price * parts

    def accept_sms(self, parts: int) -> int:
        """Store an SMS API message (already paid for); return its id."""
        self.prune()
        now = self.clock.now()
        self.sms_money -= self.config.sms_price * parts
        delay = draw(self._delays, self.config.delivery_delay)
        delivered = self._sms.random() < self.config.sms_delivered_share
        message_id = self._new_id()
        self._sms_api[message_id] = _SmsRecord(now, now + delay, delivered)
        self._sms_order.append(message_id)
        return message_id

    def sms_status(self, message_id: int) -> SmsStatus | None:
        """The SMS API status of ``message_id``; None if unknown or expired."""
        record = self._sms_api.get(message_id)
        now = self.clock.now()
        if record is None or record.created < now - self.status_window:
            return None
        return record.status_at(now)


def _receipt_body(record: _ViberRecord, when: float) -> dict[str, Any]:
    status, sms_id, sms_status = record.status_at(when)
    return {
        "message_id": record.message_id,
        "status": int(status),
        "sms_message_id": sms_id,
        "sms_message_status": None if sms_status is None else int(sms_status),
    }
