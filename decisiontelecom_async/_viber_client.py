"""The Viber + SMS client: send a message, look up its status."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterable, Callable, Iterable
from typing import TYPE_CHECKING

import httpx

from decisiontelecom_async._answer import Answer, text_of
from decisiontelecom_async._bulk import BulkRun
from decisiontelecom_async._bulk_calls import send_many_of
from decisiontelecom_async._converter import parse_id, receipt_from_wire, viber_message_to_wire
from decisiontelecom_async._errors import UnexpectedResponseError
from decisiontelecom_async._models import MessageReceipt, SendOutcome, ViberMessage
from decisiontelecom_async._responses import json_result
from decisiontelecom_async._rules import encodes
from decisiontelecom_async._status_lookups import StatusLookups, check_message_id

if TYPE_CHECKING:
    from decisiontelecom_async._progress import ProgressHook
    from decisiontelecom_async._retry import RetryPolicy

__all__ = ["DEFAULT_BASE_URL", "ViberClient"]

DEFAULT_BASE_URL = "https://web.it-decision.com/v1/api"


class ViberClient(StatusLookups[MessageReceipt]):
    """An async client for the Viber + SMS API.

    ::

        async with ViberClient(access_key) as client:
            message_id = await client.send(ViberMessage("Shop", "380501234567", "Hi"))
            receipt = await client.get_status(message_id)

    ``access_key`` is the raw key from the account manager; the client sends
    it base64-encoded in ``Authorization: Basic``. It never appears in an
    exception, a ``repr`` or a log line.

    ``timeout`` (seconds, or an ``httpx.Timeout``) applies to every request,
    also through an ``http_client`` you pass. ``max_retries`` is the number of
    retries after the first try (see :class:`RetryPolicy`; a ``retry_policy``
    replaces it). ``max_concurrency`` bounds the requests in flight across
    every call on the client; ``rate_limit`` caps requests per second.
    ``http_client`` is an ``httpx.AsyncClient`` to send through; the client
    never closes one you pass in.
    """

    def __init__(
        self,
        access_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | httpx.Timeout = 30.0,
        max_retries: int = 3,
        max_concurrency: int = 50,
        rate_limit: float | None = None,
        http_client: httpx.AsyncClient | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        if not isinstance(access_key, str) or not access_key.strip():
            msg = "access_key must be a non-empty string (the key from your account manager)"
            raise ValueError(msg)
        if not encodes(access_key):
            # Never echo it; a UnicodeEncodeError would hold the whole key.
            msg = "access_key must be valid Unicode (it holds a lone surrogate character)"
            raise ValueError(msg)
        token = base64.b64encode(access_key.encode()).decode()
        super().__init__(
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            max_concurrency=max_concurrency,
            rate_limit=rate_limit,
            http_client=http_client,
            retry_policy=retry_policy,
            headers={"Authorization": f"Basic {token}"},
            secrets=(access_key, token),
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
        self, message: ViberMessage, *, retry_policy: RetryPolicy | None = None
    ) -> tuple[int, int]:
        if not isinstance(message, ViberMessage):
            msg = f"send() takes a ViberMessage, got {type(message).__name__}"
            raise TypeError(msg)
        request = self._build_request(
            "POST", "send-viber", json_body=viber_message_to_wire(message)
        )
        return await self._request(
            request, self._parse_message_id, idempotent=False, retry_policy=retry_policy
        )

    async def get_status(
        self, message_id: int, *, retry_policy: RetryPolicy | None = None
    ) -> MessageReceipt:
        """Look up the status of a message sent in the last 5 days."""
        receipt, _ = await self._get_status(message_id, retry_policy=retry_policy)
        return receipt

    @staticmethod
    def _is_final(status: MessageReceipt) -> bool:
        return status.is_final

    async def _get_status(
        self, message_id: int, *, retry_policy: RetryPolicy | None = None
    ) -> tuple[MessageReceipt, int]:
        request = self._build_request(
            "POST", "receive-viber", json_body={"message_id": check_message_id(message_id)}
        )
        return await self._request(
            request, self._parse_receipt, idempotent=True, retry_policy=retry_policy
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
        """
        return send_many_of(
            self,
            messages,
            lambda message: self._send(message, retry_policy=retry_policy),
            ViberMessage,
            concurrency=concurrency,
            progress=progress,
            progress_interval=progress_interval,
            stop_when=stop_when,
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
