"""``decisiontelecom status``: a table of statuses."""

from __future__ import annotations

import pytest

from cli._support import (
    SECRET,
    ServedSandbox,
    assert_no_secret,
    assert_one_error_line,
    closed_port_url,
    output,
    run,
)

pytestmark = pytest.mark.network


def test_status_shows_a_table_in_the_order_given(served: ServedSandbox) -> None:
    ids = [
        run("send", "--sender", "Shop", "--to", f"38050123456{n}", "--text", "Hi",
            base_url=served.base_url).stdout.strip()
        for n in range(2)
    ]  # fmt: skip
    result = run("status", ids[1], ids[0], base_url=served.base_url)
    assert result.exit_code == 0, output(result)
    assert result.stdout.index(ids[1]) < result.stdout.index(ids[0])
    assert result.stdout.count("pending") == 2


def test_status_of_an_unknown_id_fails_that_row(served: ServedSandbox) -> None:
    sent = run("send", "--sender", "S", "--to", "1234567", "--text", "x", base_url=served.base_url)
    result = run("status", sent.stdout.strip(), "12345", base_url=served.base_url)
    assert result.exit_code == 1
    assert "pending" in result.stdout
    assert result.stderr.startswith("error: message 12345: InvalidParameterError")
    assert len(result.stderr.splitlines()) == 1


def test_status_with_a_wrong_key_is_one_line(served: ServedSandbox) -> None:
    result = run("status", "1", "2", "3", key=SECRET, base_url=served.base_url)
    assert_one_error_line(result, code=1, says="AuthenticationError")
    assert_no_secret(output(result))


def test_status_of_an_unreachable_server_is_one_line() -> None:
    result = run("status", "--max-retries", "0", "1", "2", key=SECRET, base_url=closed_port_url())
    assert_one_error_line(result, code=1, says="TransportError")
