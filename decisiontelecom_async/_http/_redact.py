"""Keep credentials out of everything the SDK prints or raises.

A :class:`Redactor` knows the client's secrets in every form they may travel
or be echoed in (raw, base64, percent-encoded by any URL library, form
encoded, re-encoded by yarl, HTML- and JSON-escaped, as Python prints bytes
(httpcore's log of raw headers); hex escapes in either case) and blanks them
out of any text before it goes into an exception, a log line or a printed URL.

A secret too short or too common to blank everywhere (an SMS login ``u``
would mangle "timeout") can instead be named as a query value: it is then
blanked only where it follows ``name=``.
"""

from __future__ import annotations

import base64
import html
import importlib
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

import httpx

__all__ = ["REDACTED", "Redactor", "secret_forms"]

REDACTED = "[REDACTED]"

# The characters URL libraries leave unescaped in a query value, besides
# the unreserved ones quote() always keeps (RFC 3986 sub-delims, ":@/?",
# JavaScript's encodeURIComponent set, WHATWG's form set).
_SAFE_SETS = ("", "/", ":@/", "!*'()", "!$'()*,;:@/?", "!$&'()*+,;=:@/?", "*")
_HEX_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def _library_forms(secret: str) -> set[str]:
    """``secret`` as httpx and yarl (aiohttp's URL type) put it in a query."""
    try:
        query = httpx.URL("http://h/", params={"s": secret}).query
    except httpx.InvalidURL:
        # Too long for any URL httpx builds, so it can show in none.
        forms: set[str] = set()
    else:
        forms = {str(query, "ascii").removeprefix("s=")}
    try:
        yarl = importlib.import_module("yarl")
    except ImportError:  # pragma: no cover - yarl comes with the "fast" extra
        return forms
    forms.add(yarl.URL.build(query={"s": secret}).raw_query_string.removeprefix("s="))
    # aiohttp re-encodes the URL it is handed, decoding what it need not escape.
    reencoded = yarl.URL(f"http://h/?s={quote(secret, safe='')}")
    forms.add(reencoded.raw_query_string.removeprefix("s="))
    return forms


def _escaped_forms(form: str) -> set[str]:
    """``form`` as an HTML page or a JSON string would show it."""
    pages = {html.escape(form), html.escape(form, quote=False)}
    # html.escape writes &#x27; and &quot;; other escapers write &#39; and &#34;.
    escaped = pages | {page.replace("&#x27;", "&#39;").replace("&quot;", "&#34;") for page in pages}
    escaped.add(json.dumps(form)[1:-1])
    escaped.add(json.dumps(form, ensure_ascii=False)[1:-1])
    escaped.add(json.dumps(form).replace("/", "\\/")[1:-1])
    return escaped


def secret_forms(secret: str) -> set[str]:
    """Every form ``secret`` may show in; empty for an empty secret."""
    if not secret:
        return set()
    encoded = {secret, *_library_forms(secret)}
    for safe in _SAFE_SETS:
        encoded.add(quote(secret, safe=safe))
        encoded.add(quote_plus(secret, safe=safe))
    forms: set[str] = set()
    for form in encoded:
        forms |= _escaped_forms(form)
    forms.add(base64.b64encode(secret.encode()).decode())
    forms.add(base64.urlsafe_b64encode(secret.encode()).decode())
    # httpcore logs header values as bytes reprs: b'\xd0\x9f...' for non-ASCII.
    forms |= {repr(form.encode())[2:-1] for form in forms}
    return {form for form in forms if form}


def _pattern(form: str) -> str:
    """``form`` as a regular expression whose hex escapes match in either case."""
    parts: list[str] = []
    position = 0
    for escape in _HEX_ESCAPE.finditer(form):
        parts.append(re.escape(form[position : escape.start()]))
        parts.append("%" + "".join(f"[{c.upper()}{c.lower()}]" for c in escape.group()[1:]))
        position = escape.end()
    parts.append(re.escape(form[position:]))
    return "".join(parts)


def _alternatives(forms: Iterable[str]) -> str:
    # Longest first, so a secret that contains another is blanked whole.
    return "|".join(_pattern(form) for form in sorted(forms, key=lambda f: (-len(f), f)))


class Redactor:
    """Replaces known secrets with ``[REDACTED]`` in any text.

    ``secrets`` are blanked wherever they appear, in every form;
    ``query_values`` maps a query parameter name to a secret blanked only as
    that parameter's value (``name=<any form>`` becomes ``name=[REDACTED]``).
    """

    def __init__(
        self, secrets: Iterable[str] = (), *, query_values: Iterable[tuple[str, str]] = ()
    ) -> None:
        forms: set[str] = set()
        for secret in secrets:
            forms |= secret_forms(secret)
        self._count = len(forms)
        self._anywhere = re.compile(_alternatives(forms)) if forms else None
        parameters: list[str] = []
        for name, value in query_values:
            value_forms = secret_forms(value)
            if value_forms:
                self._count += len(value_forms)
                parameters.append(f"(?i:{re.escape(name)})=(?:{_alternatives(value_forms)})")
        self._parameters = (
            re.compile(f"(?<![0-9A-Za-z_])({'|'.join(parameters)})") if parameters else None
        )

    def __call__(self, text: str) -> str:
        """``text`` with every known secret replaced."""
        if self._anywhere is not None:
            text = self._anywhere.sub(REDACTED, text)
        if self._parameters is not None:
            text = self._parameters.sub(_blank_value, text)
        return text

    def url(self, url: httpx.URL) -> str:
        """A printable form of ``url``: no query string, no user info."""
        return str(url.copy_with(query=None, fragment=None, username=None, password=None))

    def __repr__(self) -> str:
        return f"Redactor({self._count} forms)"


def _blank_value(match: re.Match[str]) -> str:
    name, _, _ = match.group().partition("=")
    return f"{name}={REDACTED}"
