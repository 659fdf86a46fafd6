"""The two places the SDK goes past httpx's public API, fenced here for their CPU.

Both serve only a client the SDK built itself, and both are measured
(``bench/``, the fast loopback scenario, CPU per message of the SDK against
raw aiohttp's, 3,000 POSTs, medians of three, two rounds each on a shared
2-core machine): with both, the SDK spends 1.84x raw aiohttp's CPU; sending
through ``AsyncClient.send`` instead of :func:`transport_for` makes it 2.8x;
building requests with ``httpx.Request`` instead of :class:`OwnRequests`
makes it 2.55x. ``tests/_http/test_shortcuts.py`` fails when httpx drifts
from what either relies on.

* :class:`OwnRequests` builds what ``httpx.Request(method, url,
  content=..., headers=merged)`` builds, the headers normalised once per
  host instead of twice per request.
* :func:`transport_for` is how httpx picks the transport of a URL
  (``AsyncClient._transport_for_url``: mounts, and where respx's
  ``using="httpx"`` hooks in), so a request can go straight to it without
  what ``AsyncClient.send`` wraps around it (auth and redirect flows, the
  cookie jar, event hooks), none of which the SDK's own client uses. Should
  httpx drop that method, it answers None and requests go through ``send``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

__all__ = ["OwnRequests", "transport_for"]

_MAX_CACHED_HOSTS = 16


def transport_for(http: httpx.AsyncClient, url: httpx.URL) -> httpx.AsyncBaseTransport | None:
    """The transport ``http`` sends ``url`` through, or None if httpx no longer says."""
    pick = getattr(http, "_transport_for_url", None)
    if pick is None:
        return None
    transport: httpx.AsyncBaseTransport = pick(url)
    return transport


class OwnRequests:
    """Builds the requests of a client the SDK made, for a fraction of httpx's CPU.

    ``client_headers`` are the ``httpx.AsyncClient``'s own, ``headers`` the
    SDK's (they win), ``timeout`` what every request carries.
    """

    __slots__ = ("_client_headers", "_headers", "_merged", "_prototypes", "_timeout")

    def __init__(
        self,
        client_headers: httpx.Headers,
        headers: Mapping[str, str],
        timeout: Mapping[str, Any],
    ) -> None:
        self._client_headers = client_headers
        self._headers = headers
        self._timeout = dict(timeout)
        self._merged: tuple[httpx.Headers, httpx.Headers] | None = None
        self._prototypes: dict[tuple[bytes, bool], httpx.Headers] = {}

    def merged(self, *, json: bool) -> httpx.Headers:
        """The client's headers merged with the SDK's, built once."""
        if self._merged is None:
            plain = httpx.Headers(self._client_headers)
            plain.update(self._headers)
            with_json = httpx.Headers(plain)
            with_json["Content-Type"] = "application/json"
            self._merged = (plain, with_json)
        return self._merged[1 if json else 0]

    def build(self, method: str, url: httpx.URL, content: bytes | None) -> httpx.Request:
        """What ``httpx.Request(method, url, content=..., headers=merged)`` builds, for less.

        The same headers in the same order (``Host`` first, ``Content-Length``
        last), body and extensions. httpx would normalise every header twice
        per request (copying them, then again to put ``Host`` first) and work
        out their encoding each time; here the headers up to
        ``Content-Length`` are built once per host and copied, their encoding
        known, and the body is handed over as the in-memory stream httpx
        would make of it.
        """
        if content is None and method in ("POST", "PUT", "PATCH"):
            # httpx puts the Content-Length: 0 of a bodyless write right after
            # Host; no call of the SDK sends one, so httpx builds it.
            return httpx.Request(
                method,
                url,
                headers=self.merged(json=False),
                extensions={"timeout": dict(self._timeout)},
            )
        key = (url.netloc, content is not None)
        prototype = self._prototypes.get(key)
        if prototype is None:
            merged = self.merged(json=content is not None)
            prototype = httpx.Headers([(b"Host", url.netloc), *merged.raw])
            if len(self._prototypes) < _MAX_CACHED_HOSTS:
                self._prototypes[key] = prototype
        headers = httpx.Headers(prototype, encoding=prototype.encoding)
        if content is not None:
            headers["Content-Length"] = str(len(content))
        request = httpx.Request(
            method,
            url,
            stream=httpx.ByteStream(content or b""),
            extensions={"timeout": dict(self._timeout)},
        )
        # Handed to httpx.Request, they would be copied and their encoding forgotten.
        request.headers = headers
        request.read()
        return request
