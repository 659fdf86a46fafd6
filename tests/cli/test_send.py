"""``decisiontelecom send``: one message."""

from __future__ import annotations

import pytest

from cli._support import (
    SANDBOX_KEY,
    SECRET,
    ServedSandbox,
    assert_no_secret,
    assert_one_error_line,
    closed_port_url,
    output,
    run,
)
from decisiontelecom_async._cli import _send as _cli_send

pytestmark = pytest.mark.network


def test_send_prints_the_id_and_puts_every_flag_on_the_wire(served: ServedSandbox) -> None:
    result = run(
        "send",
        "--sender", "Shop",
        "--to", "380501234567",
        "--text", "Sale",
        "--type", "TEXT_IMAGE_BUTTON",
        "--source", "1",
        "--image-url", "https://example.com/a.png",
        "--button-caption", "Go",
        "--button-action", "https://example.com/go",
        "--callback-url", "https://example.com/cb",
        "--ttl", "3600",
        base_url=served.base_url,
    )  # fmt: skip
    assert result.exit_code == 0, output(result)
    message_id = int(result.stdout.strip())
    assert served.sandbox is not None
    message = served.sandbox.message(message_id)
    assert message is not None
    assert message.request == {
        "source_addr": "Shop",
        "destination_addr": "380501234567",
        "message_type": 108,
        "source_type": 1,
        "text": "Sale",
        "image": "https://example.com/a.png",
        "button_caption": "Go",
        "button_action": "https://example.com/go",
        "callback_url": "https://example.com/cb",
        "validity_period": 3600,
    }


def test_send_takes_the_sms_text_and_the_key_from_the_option(served: ServedSandbox) -> None:
    result = run(
        "send", "--access-key", SANDBOX_KEY, "--sender", "Shop", "--to", "380501234567",
        "--text", "Code 1", "--sms-text", "Code 1", "--type", "106", "--source", "transactional",
        key=None, base_url=served.base_url,
    )  # fmt: skip
    assert result.exit_code == 0, output(result)
    assert served.sandbox is not None
    message = served.sandbox.message(int(result.stdout))
    assert message is not None
    assert message.request is not None
    assert message.request["text_sms"] == "Code 1"


def test_send_without_a_key_is_one_line() -> None:
    result = run("send", "--sender", "Shop", "--to", "380501234567", "--text", "Hi", key=None)
    assert_one_error_line(result, code=2, says="DECISIONTELECOM_ACCESS_KEY")


def test_a_wrong_key_is_one_line_and_never_echoed(served: ServedSandbox) -> None:
    result = run(
        "send", "--sender", "Shop", "--to", "380501234567", "--text", "Hi",
        key=SECRET, base_url=served.base_url,
    )  # fmt: skip
    assert_one_error_line(result, code=1, says="AuthenticationError")
    assert_no_secret(output(result))


def test_a_wrong_key_given_as_an_option_is_never_echoed(served: ServedSandbox) -> None:
    result = run(
        "send", "--access-key", SECRET, "--sender", "Shop", "--to", "380501234567",
        "--text", "Hi", key=None, base_url=served.base_url,
    )  # fmt: skip
    assert_one_error_line(result, code=1, says="401")
    assert_no_secret(output(result))


def test_an_unreachable_server_is_one_line() -> None:
    result = run(
        "send", "--max-retries", "0", "--sender", "Shop", "--to", "380501234567", "--text", "Hi",
        key=SECRET, base_url=closed_port_url(),
    )  # fmt: skip
    assert_one_error_line(result, code=1, says="TransportError")
    assert_no_secret(output(result))


def test_an_invalid_message_is_one_line_naming_each_field() -> None:
    result = run(
        "send", "--sender", "Shop", "--to", "+38 050", "--text", "Hi", "--type", "108",
        key=SECRET, base_url=closed_port_url(),
    )  # fmt: skip
    assert_one_error_line(result, code=2, says="receiver")
    assert "image_url" in result.stderr
    assert_no_secret(output(result))


def test_an_unknown_type_names_the_choices() -> None:
    result = run("send", "--sender", "S", "--to", "1", "--text", "x", "--type", "video", key=SECRET)
    assert result.exit_code == 2
    assert "text-image-button (108)" in result.stderr
    assert_no_secret(output(result))


def test_even_a_bug_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: object) -> int:
        raise RuntimeError(f"boom with {SECRET}")

    monkeypatch.setattr(_cli_send, "send_one", broken)
    result = run("send", "--sender", "S", "--to", "1234567", "--text", "x", key=SECRET)
    assert_one_error_line(result, code=1, says="unexpected RuntimeError: boom")
    assert_no_secret(output(result))
