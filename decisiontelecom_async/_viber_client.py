"""The Viber + SMS client: send a message, look up its status."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterable, Callable, Iterable
from typing import TYPE_CHECKING, Unpack

from decisiontelecom_async._bulk import BulkRun
from decisiontelecom_async._bulk_calls import send_many_of
from decisiontelecom_async._client_options import (
    ClientOptions,
    required_from_environment,
    shared_options,
)
from decisiontelecom_async._converter import parse_id, receipt_from_wire, viber_message_to_wire
from decisiontelecom_async._errors import UnexpectedResponseError
from decisiontelecom_async._http._answer import Answer, text_of
from decisiontelecom_async._http._redact import Redactor
from decisiontelecom_async._models import MessageReceipt, SendOutcome, ViberMessage
from decisiontelecom_async._responses import json_result
from decisiontelecom_async._rules import encodes
from decisiontelecom_async._status_lookups import StatusLookups, check_message_id

if TYPE_CHECKING:
    from decisiontelecom_async._http._guard import RunGuard
    from decisiontelecom_async._journal._base import Journal
    from decisiontelecom_async._progress import ProgressHook
    from decisiontelecom_async._retry import RetryPolicy

__all__ = ["ACCESS_KEY_ENV", "BASE_URL_ENV", "DEFAULT_BASE_URL", "ViberClient"]

DEFAULT_BASE_URL = "https://web.it-decision.com/v1/api"
ACCESS_KEY_ENV = "DECISIONTELECOM_ACCESS_KEY"
BASE_URL_ENV = "DECISIONTELECOM_BASE_URL"

_DIGEST_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def viber_digest(message: ViberMessage) -> bytes:
    """A journal's digest of ``message``: a hash of its ``send-viber`` body."""
    body = _DIGEST_ENCODER.encode(viber_message_to_wire(message)).encode()
    return hashlib.blake2b(b"viber\0" + body, digest_size=16).digest()


@shared_options
class ViberClient(StatusLookups[MessageReceipt]):
    """An async client for the Viber + SMS API.

    ::

        async with ViberClient(access_key) as client:
            message_id = await client.send(ViberMessage("Shop", "380501234567", "Hi"))
            receipt = await client.get_status(message_id)

    ``access_key`` is the raw key from the account manager; the client sends
    it base64-encoded in ``Authorization: Basic``. It never appears in an
    exception, a ``repr`` or a log line. When it is not passed, the client
    reads it from the environment variable ``DECISIONTELECOM_ACCESS_KEY``.
    """

    _default_base_url = DEFAULT_BASE_URL
    _base_url_env = BASE_URL_ENV

    def __init__(self, access_key: str | None = None, **options: Unpack[ClientOptions]) -> None:
        access_key = required_from_environment(
            access_key, argument="access_key", variable=ACCESS_KEY_ENV
        )
        if not isinstance(access_key, str) or not access_key.strip():
            msg = "access_key must be a non-empty string (the key from your account manager)"
            raise ValueError(msg)
        if not encodes(access_key):
            # Never echo it; a UnicodeEncodeError would hold the whole key.
            msg = "access_key must be valid Unicode (it holds a lone surrogate character)"
            raise ValueError(msg)
        token = base64.b64encode(access_key.encode()).decode()
        super().__init__(
            options,
            headers={"Authorization": f"Basic {token}"},
            redactor=lambda extra: Redactor((access_key, token, *extra)),
            account=access_key,
        )

    async def send(self, message: ViberMessage, *, retry_policy: RetryPolicy | None = None) -> int:
        """Send ``message``; return the id the service assigned.

        Raises an :class:`APIError` subclass when the service refuses it,
        :class:`TransportError` when no answer came back, and
        :class:`UnexpectedResponseError` for an answer that makes no sense.
        A send whose outcome is unknown is not retried unless the policy says
        ``retry_unknown_outcome=True``.
        """
        message_id, _ = await self._send(message, retry_policy=retry_policy)
        return message_id

    async def _send(
        self,
        message: ViberMessage,
        *,
        retry_policy: RetryPolicy | None = None,
        guard: RunGuard | None = None,
    ) -> tuple[int, int]:
        if not isinstance(message, ViberMessage):
            msg = f"send() takes a ViberMessage, got {type(message).__name__}"
            raise TypeError(msg)
        request = self._build_request(
            "POST", "send-viber", json_body=viber_message_to_wire(message)
        )
        return await self._send_message(
            request,
            self._parse_message_id,
            receiver=message.receiver,
            retry_policy=retry_policy,
            guard=guard,
        )

    async def get_status(
        self, message_id: int, *, retry_policy: RetryPolicy | None = None
    ) -> MessageReceipt:
        """Look up the status of a message sent in the last 5 days."""
        receipt, _ = await self._get_status(message_id, retry_policy=retry_policy)
        return receipt

    async def _get_status(
        self,
        message_id: int,
        *,
        retry_policy: RetryPolicy | None = None,
        guard: RunGuard | None = None,
    ) -> tuple[MessageReceipt, int]:
        request = self._build_request(
            "POST", "receive-viber", json_body={"message_id": check_message_id(message_id)}
        )
        return await self._request(
            request, self._parse_receipt, idempotent=True, retry_policy=retry_policy, guard=guard
        )

    # -- bulk (see _bulk.py and _polling.py) ---------------------------------------

    def send_many(
        self,
        messages: Iterable[ViberMessage] | AsyncIterable[ViberMessage],
        *,
        concurrency: int | None = None,
        progress: ProgressHook | None = None,
        progress_interval: float = 0.5,
        retry_policy: RetryPolicy | None = None,
        stop_when: Callable[[SendOutcome[ViberMessage]], bool] | None = None,
        journal: Journal | None = None,
        resend_unknown: bool = False,
    ) -> BulkRun[SendOutcome[ViberMessage]]:
        """Send every message; yield a :class:`SendOutcome` for each as it finishes.

        ::

            async with contextlib.aclosing(client.send_many(messages)) as outcomes:
                async for outcome in outcomes:
                    if not outcome.ok:
                        print(outcome.index, outcome.error)

        ``messages`` is any iterable or async iterable, read lazily: a
        generator of millions runs in constant memory, and at most
        ``concurrency`` messages are taken ahead of the outcomes handed out.
        Outcomes come in completion order, exactly one per input, with its
        ``index``. ``concurrency`` (default and ceiling: the client's
        ``max_concurrency``, which also bounds every other call on the client)
        is the number of messages in flight.

        A message the service refuses (400), a transport failure or an input
        that is not a :class:`ViberMessage` fails only its own outcome. An
        empty balance (402) or a refused key (401/403) stops the run: requests
        in flight finish, nothing new is sent, and every other input gets a
        :class:`CampaignAborted` outcome whose ``cause`` is that error.
        ``stop_when`` adds a rule of your own: a callable that is handed each
        outcome as it settles and returns whether the run stops the same way
        (the ``cause`` is that outcome's error, ``None`` for one without);
        for example ``stop_when=lambda o: isinstance(o.error, ServerError)``.

        ``progress`` (a plain or async callable) receives a
        :class:`BulkProgress` every ``progress_interval`` seconds and once at
        the end. Leaving the loop early, ``aclose()``, cancelling the task or
        closing the client stops the run and leaves no task behind; wrap it in
        :func:`contextlib.aclosing` to stop it the moment you leave the loop.
        Stopping never throws an outcome away: the returned :class:`BulkRun`'s
        ``stop()`` ends the loop with every outcome, and its ``drain()`` hands
        out what was not handed out yet (see ``docs/bulk.md``).
        Arguments are checked at the call, before anything is sent.

        ``journal`` (a :class:`SqliteJournal`) makes the run durable and
        resumable: each message is recorded before its request leaves and its
        outcome after; running the same messages against the same journal again
        sends only what the service did not accept, and messages whose outcome
        is unknown only with ``resend_unknown=True``. See "Durable campaigns".
        """
        return send_many_of(
            self,
            messages,
            lambda message, guard: self._send(message, retry_policy=retry_policy, guard=guard),
            ViberMessage,
            concurrency=concurrency,
            progress=progress,
            progress_interval=progress_interval,
            stop_when=stop_when,
            journal=journal,
            resend_unknown=resend_unknown,
            digest_of=viber_digest,
        )

    def _parse_message_id(self, response: Answer) -> int:
        body = json_result(response, redact=self._redactor)
        try:
            return parse_id(body.get("message_id"), "message_id")
        except UnexpectedResponseError as exc:
            raise UnexpectedResponseError(
                self._redactor(exc.reason),
                status=response.status_code,
                body=self._redactor(text_of(response)),
            ) from None

    def _parse_receipt(self, response: Answer) -> MessageReceipt:
        body = json_result(response, redact=self._redactor)
        try:
            return receipt_from_wire(body)
        except UnexpectedResponseError as exc:
            raise UnexpectedResponseError(
                self._redactor(exc.reason),
                status=response.status_code,
                body=self._redactor(text_of(response)),
            ) from None
