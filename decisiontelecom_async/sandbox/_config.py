"""The sandbox's configuration: one frozen record of every knob, checked on creation.

:class:`SandboxConfig` is built flat (``SandboxConfig(seed=1, rate_limit=50)``,
or from a config file's keys); the state, the faults, the request handling and
the callback outbox each take the whole record and read the fields that are
theirs, so a knob is declared once, here.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import attrs

from decisiontelecom_async.sandbox._faults import DropPhase
from decisiontelecom_async.sandbox._state import Span

__all__ = ["SandboxConfig"]


def _share(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        msg = f"SandboxConfig.{attribute.name} must be a share between 0 and 1, got {value!r}"
        raise ValueError(msg)


def _seconds(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        msg = f"SandboxConfig.{attribute.name} must be a finite number >= 0, got {value!r}"
        raise ValueError(msg)


def _positive_seconds(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        msg = f"SandboxConfig.{attribute.name} must be a finite number > 0, got {value!r}"
        raise ValueError(msg)


def _span(instance: object, attribute: attrs.Attribute[Any], value: Span) -> None:
    if isinstance(value, tuple):
        if len(value) != 2:  # noqa: PLR2004 - a pair
            msg = f"SandboxConfig.{attribute.name} must be seconds or (low, high), got {value!r}"
            raise ValueError(msg)
        for bound in value:
            _seconds(instance, attribute, bound)
        if value[0] > value[1]:
            msg = f"SandboxConfig.{attribute.name}: low must not exceed high, got {value!r}"
            raise ValueError(msg)
    else:
        _seconds(instance, attribute, value)


def _to_span(value: object) -> object:
    """Accept a list for ``(low, high)``, as a config file would give it."""
    return tuple(value) if isinstance(value, list) else value


def _optional_positive(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        msg = f"SandboxConfig.{attribute.name} must be None or a number > 0, got {value!r}"
        raise ValueError(msg)


def _non_empty(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value:
        msg = f"SandboxConfig.{attribute.name} must be a non-empty string"
        raise ValueError(msg)


@attrs.frozen(kw_only=True)
class SandboxConfig:
    """Everything about a sandbox, each knob on its own, all seeded by :attr:`seed`.

    The defaults are a well-behaved service: everything is delivered, every
    2-Way message gets a reply, no faults. Shares are between 0 and 1;
    durations are seconds, either fixed or ``(low, high)`` for a uniform draw.
    Statuses, the status window and callback retries run on simulated time
    (see :attr:`time_scale`); latency and the rate limit are real time.
    """

    access_key: str = attrs.field(default="sandbox-key", validator=_non_empty)
    """The key a client must send (``Authorization: Basic base64(key)``)."""
    sms_login: str = attrs.field(default="sandbox-login", validator=_non_empty)
    """The SMS API login."""
    sms_password: str = attrs.field(default="sandbox-password", validator=_non_empty)
    """The SMS API password."""
    seed: int = 0
    """Seeds every random choice: the same seed and config repeat a run exactly."""

    delivery_delay: Span = attrs.field(default=1.0, converter=_to_span, validator=_span)
    """Simulated seconds from pending to final: sent halfway, then delivered (or not).
    An SMS fallback takes as long again."""
    undelivered_share: float = attrs.field(default=0.0, validator=_share)
    """Share of Viber messages that end ``undelivered``."""
    rejected_share: float = attrs.field(default=0.0, validator=_share)
    """Share of Viber messages that end ``rejected`` (never ``sent``)."""
    sms_delivered_share: float = attrs.field(default=1.0, validator=_share)
    """Share of SMS (fallbacks and SMS API sends) that end ``delivered``
    (the rest ``undeliverable``)."""
    reply_share: float = attrs.field(default=1.0, validator=_share)
    """Share of delivered 2-Way messages (206, 208) with a ``callback_url`` that
    get a reply from the user."""
    reply_delay: Span = attrs.field(default=2.0, converter=_to_span, validator=_span)
    """Simulated seconds from delivery to the user's reply."""
    reply_texts: tuple[str, ...] = attrs.field(
        default=("Yes", "No", "STOP", "Tell me more"), converter=tuple
    )
    """What users reply, picked at random."""

    rate_limit: float | None = attrs.field(default=None, validator=_optional_positive)
    """Requests a second (bursts of up to :attr:`rate_burst`); beyond it, 429 with
    ``Retry-After`` in (fractional) seconds."""
    rate_burst: float = attrs.field(default=1.0, validator=_positive_seconds)
    """Seconds' worth of :attr:`rate_limit` the bucket holds (at least one
    request): a burst of that many goes through at once. A service whose
    limiter allows short bursts only is ``0.1``."""
    server_error_share: float = attrs.field(default=0.0, validator=_share)
    """Share of requests answered 500 (not processed)."""
    error_in_200_share: float = attrs.field(default=0.0, validator=_share)
    """Share of Viber requests answered HTTP 200 with an error object inside
    (rate limit or internal error; not processed)."""
    latency: Span = attrs.field(default=0.0, converter=_to_span, validator=_span)
    """Real seconds each request takes before it is handled."""
    balance: int | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(
            [attrs.validators.instance_of(int), attrs.validators.ge(0)]
        ),
    )
    """Sends accepted before the balance is empty (402, SMS API error 49);
    None: never empty."""
    drop_connection_share: float = attrs.field(default=0.0, validator=_share)
    """Share of requests whose connection is dropped without an answer."""
    drop_connection_phase: DropPhase = attrs.field(default=DropPhase.EITHER, converter=DropPhase)
    """When drops happen: ``before`` processing (nothing happened), ``after``
    (a send exists, its answer is lost), or ``either``."""
    unauthorized_body: Literal["empty", "text", "json"] = attrs.field(
        default="text", validator=attrs.validators.in_(("empty", "text", "json"))
    )
    """What a 401 carries: nothing, a line of text, or an error object."""

    callback_attempts: int = attrs.field(
        default=3, validator=[attrs.validators.instance_of(int), attrs.validators.ge(1)]
    )
    """Tries per callback before it is given up."""
    callback_backoff: float = attrs.field(default=0.5, validator=_seconds)
    """Simulated seconds before the first retry of a failed callback, doubled after."""
    callback_timeout: float = attrs.field(default=5.0, validator=_seconds)
    """Real seconds a receiver has to answer one callback."""
    callback_history: int = attrs.field(default=10_000, validator=attrs.validators.ge(0))
    """How many finished callbacks :attr:`Sandbox.callbacks` keeps."""

    status_window: timedelta = timedelta(days=5)
    """How long a message can be looked up; older ones are forgotten (400)."""
    time_scale: float = attrs.field(default=1.0, validator=_seconds)
    """Simulated seconds per real second; 0 freezes time for :meth:`Sandbox.advance`."""
    start_time: datetime | None = None
    """Simulated time at start (an aware datetime); None: now."""
    keep_bodies: int = attrs.field(default=10_000, validator=attrs.validators.ge(0))
    """How many of the most recent request bodies :meth:`Sandbox.messages` shows."""

    sms_balance: Decimal = attrs.field(default=Decimal("100.00"), converter=Decimal)
    """The SMS API's money balance; each SMS part costs :attr:`sms_price`."""
    sms_price: Decimal = attrs.field(default=Decimal("0.05"), converter=Decimal)
    """What one SMS part costs."""
    sms_credit: Decimal = attrs.field(default=Decimal("0.00"), converter=Decimal)
    """The credit the SMS API's balance reports."""
    currency: str = "EUR"
    """The currency the SMS API's balance reports."""

    def __attrs_post_init__(self) -> None:
        if self.undelivered_share + self.rejected_share > 1:
            msg = "SandboxConfig: undelivered_share + rejected_share must not exceed 1"
            raise ValueError(msg)
        if not self.reply_texts:
            msg = "SandboxConfig.reply_texts must hold at least one text"
            raise ValueError(msg)
        if self.status_window <= timedelta(0):
            msg = "SandboxConfig.status_window must be positive"
            raise ValueError(msg)
