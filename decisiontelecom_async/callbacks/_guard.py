"""Who may deliver callbacks: a secret token in the URL, and source networks.

The service signs nothing, so the receiver checks what it can:

- a secret token that must appear in the callback URL, as a whole path
  segment or as the ``token`` query parameter, compared in constant time;
- optionally, the caller's address against an allow-list of networks. The
  address is the TCP peer, or, only when asked, the one a trusted proxy
  added to a forwarding header such as ``X-Forwarded-For``.

Nothing here logs or repeats the token.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import string
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

__all__ = [
    "IPAddress",
    "IPNetwork",
    "NetworkSpec",
    "SourceCheck",
    "TokenCheck",
    "callback_url",
    "check_token",
]

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
NetworkSpec: TypeAlias = str | IPAddress | IPNetwork

MIN_TOKEN_LENGTH = 16
TOKEN_PARAM = "token"  # noqa: S105 - the query parameter's name, not a secret
_TOKEN_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-._~")
# A URL with more parts than this is not one we handed out.
_MAX_CANDIDATES = 64


def check_token(token: object) -> str:
    """Refuse a token that is short or would need escaping in a URL.

    Raises ``ValueError`` (``TypeError`` for a non-string) without repeating
    the token.
    """
    if not isinstance(token, str):
        raise TypeError(f"token must be a str, got {type(token).__name__}")
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(
            f"token must be at least {MIN_TOKEN_LENGTH} characters; "
            "make one with secrets.token_urlsafe(32)"
        )
    if not set(token) <= _TOKEN_CHARACTERS or token.strip(".") == "":
        raise ValueError(
            "token may hold only letters, digits and '-._~' so it travels unescaped in a URL; "
            "make one with secrets.token_urlsafe(32)"
        )
    return token


def callback_url(base: str, token: str, *, in_query: bool = False) -> str:
    """The ``callback_url`` to put in messages: ``base`` with the secret token added.

    The token becomes the last path segment
    (``https://example.com/dt`` becomes ``https://example.com/dt/<token>``),
    or, with ``in_query=True``, the ``token`` query parameter
    (``https://example.com/dt?token=<token>``). The receiver made by
    :func:`~decisiontelecom_async.callbacks.callback_app` with the same token
    accepts either. Raises ``ValueError`` for a base that is not an http(s)
    URL with a host, or a token that :func:`callback_app` would refuse.
    """
    check_token(token)
    parts = urlsplit(base)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"base must be an http(s) URL with a host, got {base!r}")
    if parts.fragment:
        raise ValueError("base must not have a #fragment: it is never sent to the server")
    if in_query:
        query = parse_qsl(parts.query, keep_blank_values=True)
        if any(name == TOKEN_PARAM for name, _ in query):
            raise ValueError(f"base already has a {TOKEN_PARAM!r} query parameter")
        query.append((TOKEN_PARAM, token))
        return urlunsplit(parts._replace(query=urlencode(query)))
    path = parts.path.rstrip("/") + "/" + quote(token, safe="")
    return urlunsplit(parts._replace(path=path))


def _digest(value: str) -> bytes:
    # Hashing first makes the comparison independent of the candidate's length.
    return hashlib.sha256(value.encode("utf-8", errors="surrogatepass")).digest()


class TokenCheck:
    """Whether a request's URL carries the secret token."""

    def __init__(self, token: str) -> None:
        self._digest = _digest(check_token(token))

    def __repr__(self) -> str:
        return "TokenCheck(token=<hidden>)"

    def matches(self, scope: Mapping[str, Any]) -> bool:
        """Whether the token is a path segment or the ``token`` query parameter.

        Every candidate is compared, with :func:`hmac.compare_digest`, so the
        time taken does not depend on where or whether the token matched.
        """
        found = False
        for candidate in _candidates(scope):
            found |= hmac.compare_digest(_digest(candidate), self._digest)
        return found


def _candidates(scope: Mapping[str, Any]) -> list[str]:
    candidates: list[str] = []
    for key in ("root_path", "path"):
        value = scope.get(key)
        if isinstance(value, str):
            candidates.extend(segment for segment in value.split("/") if segment)
    query = scope.get("query_string")
    if isinstance(query, bytes) and query:
        text = query.decode("latin-1")
        candidates.extend(
            value for name, value in parse_qsl(text, encoding="latin-1") if name == TOKEN_PARAM
        )
    return candidates[-_MAX_CANDIDATES:]


def parse_networks(specs: Iterable[NetworkSpec] | NetworkSpec, what: str) -> tuple[IPNetwork, ...]:
    """Networks from strings (``"203.0.113.0/24"``, ``"2001:db8::1"``) or ipaddress objects.

    Raises ``ValueError`` naming ``what`` for a value that is not a network
    (also for one with host bits set, such as ``"10.0.0.1/8"``: a typo there
    would silently widen the allow-list).
    """
    items = [specs] if isinstance(specs, str | IPAddress | IPNetwork) else list(specs)
    networks: list[IPNetwork] = []
    for spec in items:
        try:
            networks.append(ipaddress.ip_network(spec))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{what}: {spec!r} is not an IP network ({exc})") from None
    return tuple(networks)


def parse_address(text: str) -> IPAddress | None:
    """An IP address from a peer or a forwarding header entry; None if it is not one.

    Accepts ``1.2.3.4``, ``1.2.3.4:5678``, ``2001:db8::1`` and
    ``[2001:db8::1]:443``. An IPv4-mapped IPv6 address is read as IPv4.
    """
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class SourceCheck:
    """The caller's address, and whether the allow-list admits it."""

    def __init__(
        self,
        allowed_networks: Iterable[NetworkSpec] | NetworkSpec | None,
        *,
        trusted_proxies: Iterable[NetworkSpec] | NetworkSpec = (),
        proxy_header: str | None = None,
    ) -> None:
        self.allowed = (
            None
            if allowed_networks is None
            else parse_networks(allowed_networks, "allowed_networks")
        )
        self.trusted_proxies = parse_networks(trusted_proxies, "trusted_proxies")
        if proxy_header is not None and not proxy_header.strip():
            raise ValueError("proxy_header must be a header name such as 'X-Forwarded-For'")
        if (proxy_header is None) != (not self.trusted_proxies):
            raise ValueError(
                "proxy_header and trusted_proxies go together: the header is honoured "
                "only on requests that come from a trusted proxy"
            )
        self._header = None if proxy_header is None else proxy_header.strip().lower().encode()

    def client_address(self, scope: Mapping[str, Any]) -> IPAddress | None:
        """The caller's address; None when it cannot be told.

        The TCP peer, unless a ``proxy_header`` is configured and the peer is
        a trusted proxy: then the rightmost address in the header that is not
        itself a trusted proxy, which is the one the trusted proxy added
        (addresses further left are whatever the caller claimed).
        """
        client = scope.get("client")
        host = client[0] if isinstance(client, list | tuple) and client else None
        peer = parse_address(host) if isinstance(host, str) else None
        if self._header is None or peer is None or not self._trusted(peer):
            return peer
        entries = [
            entry
            for name, value in scope.get("headers") or ()
            if bytes(name).lower() == self._header
            for entry in bytes(value).decode("latin-1").split(",")
        ]
        address: IPAddress | None = None
        for entry in reversed(entries):
            address = parse_address(entry)
            if address is None or not self._trusted(address):
                return address
        return address

    def allows(self, address: IPAddress | None) -> bool:
        """Whether ``address`` is in the allow-list (always, when there is none)."""
        if self.allowed is None:
            return True
        return address is not None and any(address in network for network in self.allowed)

    def _trusted(self, address: IPAddress) -> bool:
        return any(address in network for network in self.trusted_proxies)
