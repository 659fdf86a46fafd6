"""The Viber + SMS client: send a message, look up its status."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import httpx

from decisiontelecom_async._base_client import BaseClient
from decisiontelecom_async._converter import parse_id, receipt_from_wire, viber_message_to_wire
from decisiontelecom_async._errors import FieldProblem, UnexpectedResponseError, ValidationError
from decisiontelecom_async._models import MessageReceipt, ViberMessage
from decisiontelecom_async._responses import json_result

if TYPE_CHECKING:
    from decisiontelecom_async._retry import RetryPolicy

__all__ = ["DEFAULT_BASE_URL", "ViberClient"]

DEFAULT_BASE_URL = "https://web.it-decision.com/v1/api"


def check_message_id(message_id: object) -> int:
    """Refuse a message id that cannot be one, before any request."""
    if isinstance(message_id, bool) or not isinstance(message_id, int) or message_id <= 0:
        raise ValidationError(
            [FieldProblem("message_id", f"must be a positive int, got {message_id!r}")],
            subject="status look-up",
        )
    return message_id


class ViberClient(BaseClient):
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

    async def _get_status(
        self, message_id: int, *, retry_policy: RetryPolicy | None = None
    ) -> tuple[MessageReceipt, int]:
        request = self._build_request(
            "POST", "receive-viber", json_body={"message_id": check_message_id(message_id)}
        )
        return await self._request(
            request, self._parse_receipt, idempotent=True, retry_policy=retry_policy
        )

    def _parse_message_id(self, response: httpx.Response) -> int:
        body = json_result(response, redact=self._redactor)
        try:
            return parse_id(body.get("message_id"), "message_id")
        except UnexpectedResponseError as exc:
            raise UnexpectedResponseError(
                exc.reason, status=response.status_code, body=self._redactor(response.text)
            ) from None

    def _parse_receipt(self, response: httpx.Response) -> MessageReceipt:
        body = json_result(response, redact=self._redactor)
        try:
            return receipt_from_wire(body)
        except UnexpectedResponseError as exc:
            raise UnexpectedResponseError(
                exc.reason, status=response.status_code, body=self._redactor(response.text)
            ) from None
