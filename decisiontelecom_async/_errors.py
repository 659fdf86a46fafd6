"""Exceptions raised by the SDK.

The hierarchy::

    DecisionTelecomError                  everything the SDK raises on purpose
    ├── ValidationError (also ValueError) a message breaks a rule, before any request
    ├── APIError                          the service answered with an error object
    │   ├── RateLimitError                status 429 / code 0
    │   ├── InvalidParameterError         status 400 / code 1
    │   ├── ServerError                   status 500 / code 2, and other 5xx
    │   ├── InsufficientBalanceError      status 402 / code 3
    │   └── AuthenticationError           401 or 403
    ├── SmsApiError                       the SMS API's ["error", <code>]
    ├── UnexpectedResponseError           a body that is neither a result nor an error
    ├── TransportError                    no usable answer (connect, timeout, dropped)
    ├── CampaignAborted                   an input not sent because a bulk run stopped
    ├── JournalError                      a campaign journal cannot be used (locked, damaged, full)
    │   └── JournalMismatchError (also ValueError)  the input differs from what the journal recorded
    ├── SharedLimitError                  a shared rate limit's store (Redis) cannot be used
    └── StatusTimeoutError (also TimeoutError)  no final status before the deadline

    SandboxConnectionDropped              the sandbox's ASGI interface, where a server
                                          would drop the connection (not the SDK's)

Every error carries ``attempts``: how many requests were made for the call
that failed (1 when it was not retried). No message, ``repr`` or attribute
ever holds the access key, the SMS password or the ``Authorization`` header.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable
from typing import Generic, TypeVar

import attrs

from decisiontelecom_async._enums import SmsErrorCode

__all__ = [
    "APIError",
    "AuthenticationError",
    "CampaignAborted",
    "DecisionTelecomError",
    "FieldProblem",
    "InsufficientBalanceError",
    "InvalidParameterError",
    "JournalError",
    "JournalMismatchError",
    "RateLimitError",
    "RunStopped",
    "SandboxConnectionDropped",
    "ServerError",
    "SharedLimitError",
    "SmsApiError",
    "StatusTimeoutError",
    "TransportError",
    "UnexpectedResponseError",
    "ValidationError",
]

_BODY_EXCERPT = 300
_R = TypeVar("_R")


def excerpt(text: str, limit: int = _BODY_EXCERPT) -> str:
    """Shorten ``text`` to ``limit`` characters for an error message."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


class _BoundedRepr(reprlib.Repr):
    """``repr`` that cannot fail: bounded depth and size, huge ints summarised.

    A decoded JSON value from outside can hold an int past Python's
    int-to-str limit (``repr`` raises ``ValueError``) or nest deeper than the
    recursion limit; neither may turn a refusal into a crash.
    """

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > _SHOWN_INT_BITS:
            return f"<int of {x.bit_length()} bits>"
        return super().repr_int(x, level)


_SHOWN_INT_BITS = 1024


def _bounded_repr(size: int, depth: int) -> _BoundedRepr:
    # Python 3.11's Repr takes no keyword arguments; its limits are attributes.
    bounded = _BoundedRepr()
    bounded.maxlevel = depth
    bounded.maxdict = bounded.maxlist = bounded.maxtuple = bounded.maxset = size
    bounded.maxstring = bounded.maxother = bounded.maxlong = 10 * size
    return bounded


_shown = _bounded_repr(8, depth=4)
_shown_body = _bounded_repr(30, depth=6)


def shown(value: object, *, body: bool = False) -> str:
    """A short ``repr`` of an outside value for an error message; never raises.

    ``body=True`` allows more of it, for the excerpt of a whole decoded body.
    """
    try:
        return (_shown_body if body else _shown).repr(value)
    except Exception:  # noqa: BLE001 - a value's own __repr__ may raise anything
        return f"<{type(value).__name__}>"


class DecisionTelecomError(Exception):
    """Base class of every error the SDK raises on purpose."""

    attempts: int
    """How many requests were made for the call that failed (0: none was sent)."""

    def __init__(self, message: str, *, attempts: int = 1) -> None:
        super().__init__(message)
        self.attempts = attempts

    @property
    def message_text(self) -> str:
        """The human-readable message, without the attempt count."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        text = self.message_text
        if self.attempts > 1:
            text += f" (after {self.attempts} attempts)"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message_text!r}, attempts={self.attempts})"


@attrs.frozen
class FieldProblem:
    """One broken rule of one field, as reported by :class:`ValidationError`."""

    field: str
    """The public name of the field (``"sms_text"``, ``"receiver"``)."""
    rule: str
    """The rule it breaks, in words (``"at most 20 characters, got 21"``)."""

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


class ValidationError(DecisionTelecomError, ValueError):
    """Input breaks a rule of the API; raised before any request is sent.

    :attr:`problems` lists every broken rule, not only the first one.
    """

    problems: tuple[FieldProblem, ...]
    """Every broken rule, with the field it belongs to."""

    def __init__(self, problems: Iterable[FieldProblem], *, subject: str = "message") -> None:
        self.problems = tuple(problems)
        listed = "; ".join(str(problem) for problem in self.problems)
        count = len(self.problems)
        super().__init__(
            f"invalid {subject} ({count} problem{'s' if count != 1 else ''}): {listed}",
            attempts=0,
        )

    @property
    def fields(self) -> tuple[str, ...]:
        """The names of the broken fields, in order, without repeats."""
        return tuple(dict.fromkeys(problem.field for problem in self.problems))

    def __repr__(self) -> str:
        return f"ValidationError(problems={self.problems!r})"


class APIError(DecisionTelecomError):
    """The service answered with an error object (or an error HTTP status).

    The object may arrive with the matching HTTP status or inside an HTTP 200
    answer; both become the same exception.
    """

    name: str
    """The error's ``name`` (``"Too Many Requests"``)."""
    message: str
    """The error's ``message`` (``"Rate limit exceeded"``)."""
    code: int | None
    """The API error code (0 rate limit, 1 invalid parameter, 2 internal, 3 balance)."""
    status: int
    """The HTTP-like status from the error object, else the HTTP status."""
    http_status: int
    """The status line of the HTTP answer (200 when the error came inside a 200)."""
    body: str | None
    """An excerpt of the answer's body, for diagnosis."""

    def __init__(
        self,
        name: str,
        message: str,
        *,
        code: int | None,
        status: int,
        http_status: int | None = None,
        body: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.name = name
        self.message = message
        self.code = code
        self.status = status
        self.http_status = status if http_status is None else http_status
        self.body = None if body is None else excerpt(body)
        details = f"status {status}" + ("" if code is None else f", code {code}")
        text = f"{name}: {message}" if message and message != name else name
        super().__init__(f"{text} ({details})", attempts=attempts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, message={self.message!r}, "
            f"code={self.code!r}, status={self.status!r}, attempts={self.attempts})"
        )


class RateLimitError(APIError):
    """Too many requests (status 429, code 0).

    Raised when retries are used up, or at once when the service asks to wait
    longer than :attr:`RetryPolicy.max_retry_after`.
    """

    retry_after: float | None
    """Seconds the service asked to wait (``Retry-After``), when it said."""

    def __init__(
        self,
        name: str,
        message: str,
        *,
        code: int | None,
        status: int,
        http_status: int | None = None,
        body: str | None = None,
        attempts: int = 1,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            name,
            message,
            code=code,
            status=status,
            http_status=http_status,
            body=body,
            attempts=attempts,
        )
        self.retry_after = retry_after
        self.wait_refused = False

    wait_refused: bool
    """Whether the client would not wait that long: ``retry_after`` is above
    the policy's ``max_retry_after``. Such a 429 stops a bulk run, since every
    later request would be refused the same way; resume after ``retry_after``."""


class InvalidParameterError(APIError):
    """The service rejected a parameter (status 400, code 1).

    :attr:`param` is read from the error's name, ``Invalid Parameter: <param>``.
    """

    @property
    def param(self) -> str | None:
        """The rejected parameter's wire name, when the service named it."""
        prefix, sep, rest = self.name.partition(":")
        if not sep or prefix.strip().lower() != "invalid parameter":
            return None
        return rest.strip() or None


class ServerError(APIError):
    """The service failed (status 500, code 2, or another 5xx). Retried."""


class InsufficientBalanceError(APIError):
    """The account balance is empty (status 402, code 3). Stops a bulk run."""


class AuthenticationError(APIError):
    """The access key was refused (401 or 403). Stops a bulk run."""


class SmsApiError(DecisionTelecomError):
    """The SMS API answered ``["error", <code>]``."""

    code: SmsErrorCode | int
    """The :class:`SmsErrorCode` (a plain int for a code this SDK does not know)."""

    def __init__(self, code: SmsErrorCode | int, *, attempts: int = 1) -> None:
        self.code = code
        description = (
            code.description if isinstance(code, SmsErrorCode) else "unknown SMS API error"
        )
        super().__init__(f"SMS API error {int(code)}: {description}", attempts=attempts)

    @property
    def is_authentication_failure(self) -> bool:
        """Whether the login or password was refused (codes 44, 45, 47, 48, 50)."""
        return self.code in _SMS_AUTH_CODES

    @property
    def is_balance_empty(self) -> bool:
        """Whether the account ran out of money (code 49)."""
        return self.code == SmsErrorCode.NOT_ENOUGH_MONEY

    def __repr__(self) -> str:
        return f"SmsApiError(code={self.code!r}, attempts={self.attempts})"


_SMS_AUTH_CODES = frozenset(
    {
        SmsErrorCode.INVALID_LOGIN_OR_PASSWORD,
        SmsErrorCode.USER_LOCKED,
        SmsErrorCode.EMPTY_LOGIN,
        SmsErrorCode.EMPTY_PASSWORD,
        SmsErrorCode.AUTHENTICATION_ERROR,
    }
)


class UnexpectedResponseError(DecisionTelecomError):
    """The answer is neither a result nor an error object (junk, HTML, truncated)."""

    status: int | None
    """The HTTP status of the answer (None for a callback body)."""
    body: str
    """An excerpt of the body."""
    reason: str
    """What was wrong with it."""

    def __init__(
        self, reason: str, *, status: int | None = None, body: str = "", attempts: int = 1
    ) -> None:
        self.reason = reason
        self.status = status
        self.body = excerpt(body)
        where = "" if status is None else f" (HTTP {status})"
        shown = f": {self.body!r}" if self.body else ""
        super().__init__(f"unexpected response{where}: {reason}{shown}", attempts=attempts)


class TransportError(DecisionTelecomError):
    """No usable answer: connect failure, timeout, or a dropped connection.

    :attr:`outcome_unknown` tells whether the service may have received the
    request. ``False`` means it provably never did (the connection could not be
    made, or no pooled connection was free), so repeating it is safe.
    ``True`` means the request was sent, or may have been, and the answer was
    lost: a send may have been delivered and billed.
    """

    outcome_unknown: bool
    """Whether the service may have received and processed the request."""

    def __init__(self, message: str, *, outcome_unknown: bool, attempts: int = 1) -> None:
        self.outcome_unknown = outcome_unknown
        super().__init__(message, attempts=attempts)

    def __repr__(self) -> str:
        return (
            f"TransportError({self.message_text!r}, outcome_unknown={self.outcome_unknown}, "
            f"attempts={self.attempts})"
        )


class CampaignAborted(DecisionTelecomError):
    """An input of a bulk run was not sent because the run stopped.

    :attr:`cause` is the error that stopped the run (for example an
    :class:`InsufficientBalanceError`), or ``None`` when the run was stopped by
    the caller.
    """

    cause: DecisionTelecomError | None
    """The error that stopped the run."""

    def __init__(self, cause: DecisionTelecomError | None, *, reason: str | None = None) -> None:
        self.cause = cause
        if reason is None:
            reason = "not sent: the run stopped" + (
                "" if cause is None else f" after {type(cause).__name__}: {cause.message_text}"
            )
        super().__init__(reason, attempts=0)

    def __repr__(self) -> str:
        return f"CampaignAborted(cause={self.cause!r})"


class RunStopped(CampaignAborted):
    """Raised inside a stopped bulk run: an attempt refused, or a wait cut short.

    Private: the bulk engine turns it into the input's outcome (a
    :class:`CampaignAborted`, or the error of the last attempt of a write
    that went out).
    """


class SandboxConnectionDropped(Exception):
    """Raised by the ASGI interface where a real server would drop the connection."""


class JournalError(DecisionTelecomError):
    """A campaign journal cannot be opened, read or written.

    Raised before anything is sent when the journal is in use by another
    process, is not a journal or is damaged, or cannot be written (read-only,
    disk full). When it happens during a run, the claim that failed was not
    sent, the run stops like after an empty balance (the other inputs get
    :class:`CampaignAborted` with this error as ``cause``), and no request
    leaves without its claim on disk.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, attempts=0)


class SharedLimitError(DecisionTelecomError):
    """A shared rate limit (``RedisRateLimit``) could not give leave to send.

    Its store cannot be reached, timed out, or refused the command. Nothing
    was sent for the call that got it: a shared limit never falls back to
    sending unlimited. It is not retried, and it stops a bulk run like an
    empty balance (the other inputs get :class:`CampaignAborted` with this
    error as ``cause``), so a journaled campaign can be resumed once the
    store is back.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, attempts=0)


class JournalMismatchError(JournalError, ValueError):
    """The input differs from what the journal recorded at :attr:`position`.

    Raised before any request of the run is sent: the input is not the one
    the journal was kept for (edited, reordered, shortened, or another file).
    """

    position: int
    """The first input position (from 0) that differs from the journal."""

    def __init__(self, position: int, reason: str) -> None:
        self.position = position
        super().__init__(f"input at position {position} {reason}; nothing was sent")


class StatusTimeoutError(DecisionTelecomError, TimeoutError, Generic[_R]):
    """The status was not final when the time was up.

    Raised by ``wait_for_final_status``, and the ``error`` of a
    ``wait_for_final_statuses`` outcome. It is also a :class:`TimeoutError`,
    so ``except TimeoutError`` catches it. :attr:`receipt` is the last status
    seen (``None`` when no look-up succeeded), so you can still act on it.
    """

    message_id: int
    """The message whose status was awaited."""
    receipt: _R | None
    """The last status read before the time was up."""
    timeout: float
    """The seconds that were allowed."""

    def __init__(
        self, message_id: int, receipt: _R | None, *, timeout: float, attempts: int
    ) -> None:
        self.message_id = message_id
        self.receipt = receipt
        self.timeout = timeout
        last = "no status read" if receipt is None else f"last status {receipt!r}"
        super().__init__(
            f"message {message_id} has no final status after {timeout:g}s ({last})",
            attempts=attempts,
        )

    def __repr__(self) -> str:
        return (
            f"StatusTimeoutError(message_id={self.message_id!r}, receipt={self.receipt!r}, "
            f"timeout={self.timeout!r}, attempts={self.attempts})"
        )
