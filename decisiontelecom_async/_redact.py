"""Keep credentials out of everything the SDK prints or raises.

A :class:`Redactor` knows the client's secrets in every form they travel in
(raw, base64, percent-encoded) and blanks them out of any text before it goes
into an exception, a log line or a printed URL.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

import httpx

__all__ = ["REDACTED", "Redactor"]

REDACTED = "[REDACTED]"


class Redactor:
    """Replaces known secrets with ``[REDACTED]`` in any text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            forms.update(
                {
                    secret,
                    quote(secret, safe=""),
                    quote_plus(secret, safe=""),
                    base64.b64encode(secret.encode()).decode(),
                }
            )
        # Longest first, so a secret that contains another is blanked whole.
        self._forms = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        """``text`` with every known secret replaced."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text

    def url(self, url: httpx.URL) -> str:
        """A printable form of ``url``: no query string, no user info."""
        return str(url.copy_with(query=None, fragment=None, username=None, password=None))

    def __repr__(self) -> str:
        return f"Redactor({len(self._forms)} forms)"
