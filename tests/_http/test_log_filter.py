"""The log filter that keeps live clients' secrets out of every record.

The end-to-end guarantee (a real server echoing the credentials, every
logger at DEBUG, both transports) is in ``test_log_secrets.py``; these tests
pin down how the filter treats a record.
"""

from __future__ import annotations

import gc
import logging
import sys
from typing import Any

from _http.test_log_secrets import ACCESS_KEY, assert_nothing_leaked
from decisiontelecom_async import ViberClient
from decisiontelecom_async._http._log_filter import SecretLogFilter, scrub_logs_for
from decisiontelecom_async._http._redact import Redactor


class Owner:
    """Stands for a client: the filter holds its owners weakly."""


def make_record(msg: object, *args: object, exc_info: Any = None) -> logging.LogRecord:
    return logging.LogRecord("httpcore.http11", logging.DEBUG, __file__, 1, msg, args, exc_info)


def test_filter_blanks_secrets_in_message_and_arguments() -> None:
    redactor = Redactor([ACCESS_KEY])
    log_filter = SecretLogFilter()
    owner = Owner()
    log_filter.add(owner, redactor)
    record = make_record("value=%s %r %d", ACCESS_KEY, ACCESS_KEY.encode(), 7)
    assert log_filter.filter(record) is True
    assert record.getMessage() == "value=[REDACTED] b'[REDACTED]' 7"
    assert_nothing_leaked(repr(record.args))


def test_filter_leaves_clean_records_untouched() -> None:
    log_filter = SecretLogFilter()
    owner = Owner()
    log_filter.add(owner, Redactor([ACCESS_KEY]))
    record = make_record("%s took %.1f ms", "GET /send", 2.5)
    log_filter.filter(record)
    assert record.msg == "%s took %.1f ms"
    assert record.args == ("GET /send", 2.5)


def fail_with_the_key() -> None:
    raise RuntimeError(f"failed with {ACCESS_KEY}")


def test_filter_blanks_secrets_in_a_logged_traceback() -> None:
    log_filter = SecretLogFilter()
    owner = Owner()
    log_filter.add(owner, Redactor([ACCESS_KEY]))
    try:
        fail_with_the_key()
    except RuntimeError:
        record = make_record("request failed", exc_info=sys.exc_info())
    log_filter.filter(record)
    formatted = logging.Formatter().format(record)
    assert "RuntimeError: failed with [REDACTED]" in formatted
    assert_nothing_leaked(formatted)


def test_filter_survives_a_record_that_cannot_be_formatted() -> None:
    log_filter = SecretLogFilter()
    owner = Owner()
    log_filter.add(owner, Redactor([ACCESS_KEY]))
    record = make_record("%d items for %s", ACCESS_KEY)  # wrong arguments
    assert log_filter.filter(record) is True
    assert_nothing_leaked(str(record.msg) + repr(record.args))


def test_a_closed_or_collected_client_is_forgotten() -> None:
    log_filter = SecretLogFilter()
    owner = Owner()
    log_filter.add(owner, Redactor([ACCESS_KEY]))
    assert len(log_filter) == 1
    del owner
    gc.collect()
    assert len(log_filter) == 0
    record = make_record("key %s", ACCESS_KEY)
    log_filter.filter(record)
    assert record.getMessage() == f"key {ACCESS_KEY}"  # nobody's secret any more


async def test_clients_register_on_every_logger_and_leave_when_closed() -> None:
    client = ViberClient(ACCESS_KEY)
    log_filter = scrub_logs_for(client, client._redactor)  # idempotent: same filter
    for name in ("httpx", "httpcore.http11", "httpcore.connection", "decisiontelecom_async"):
        assert log_filter in logging.getLogger(name).filters, name
    assert client in log_filter
    await client.aclose()
    assert client not in log_filter
