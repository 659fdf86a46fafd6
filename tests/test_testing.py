"""The pytest plugin users enable with ``pytest_plugins = ["decisiontelecom_async.testing"]``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from decisiontelecom_async import (
    MessageType,
    SmsStatus,
    SourceType,
    ViberClient,
    ViberMessage,
    ViberStatus,
)
from decisiontelecom_async.callbacks import parse_callback
from decisiontelecom_async.sandbox import Sandbox

pytest_plugins = ["decisiontelecom_async.testing"]

MESSAGE = ViberMessage("Shop", "380501234567", "Hi")


async def test_sandbox_client_sends_in_process(
    sandbox: Sandbox, sandbox_client: ViberClient
) -> None:
    message_id = await sandbox_client.send(MESSAGE)
    assert not sandbox.is_serving
    assert (await sandbox_client.get_status(message_id)).status is ViberStatus.PENDING
    await sandbox.advance(5)
    assert (await sandbox_client.get_status(message_id)).status is ViberStatus.DELIVERED


async def test_time_is_frozen_by_default(sandbox: Sandbox) -> None:
    before = sandbox.clock.now()
    assert sandbox.config.time_scale == 0
    assert sandbox.clock.now() == before


async def test_callbacks_are_recorded_not_sent(
    sandbox: Sandbox, sandbox_client: ViberClient
) -> None:
    await sandbox_client.send(
        ViberMessage(
            "Shop",
            "380501234567",
            "Offer?",
            message_type=MessageType.TEXT_ONLY_2WAY,
            source_type=SourceType.PROMOTIONAL,
            callback_url="https://nowhere.invalid/cb",
        )
    )
    await sandbox.advance(60)
    assert [c.delivered for c in sandbox.callbacks] == [True, True, True]
    assert parse_callback(sandbox.callbacks[-1].body).text in sandbox.config.reply_texts


async def test_sms_client_fixture(sandbox: Sandbox, sandbox_sms_client: object) -> None:
    from decisiontelecom_async import SmsClient  # noqa: PLC0415

    assert isinstance(sandbox_sms_client, SmsClient)
    message_id = await sandbox_sms_client.send("380501234567", "Shop", "Hi")
    assert await sandbox_sms_client.get_status(message_id) is SmsStatus.ACCEPTED


@pytest.mark.network
async def test_sandbox_server_serves_on_loopback(sandbox_server: Sandbox) -> None:
    assert sandbox_server.base_url.startswith("http://127.0.0.1:")
    async with (
        httpx.AsyncClient() as http,
        ViberClient("sandbox-key", base_url=sandbox_server.base_url, http_client=http) as client,
    ):
        await client.send(MESSAGE)
    assert sandbox_server.stats.sends_accepted == 1


def test_the_documented_conftest_line_works_in_a_fresh_project(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["decisiontelecom_async.testing"]\n')
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import pytest
            from decisiontelecom_async import ViberMessage, ViberStatus, ServerError

            @pytest.mark.asyncio
            async def test_delivered(sandbox, sandbox_client):
                message_id = await sandbox_client.send(ViberMessage("Shop", "380501234567", "Hi"))
                await sandbox.advance(5)
                assert sandbox.message(message_id).status is ViberStatus.DELIVERED

            @pytest.mark.sandbox(server_error_share=1.0, seed=3)
            class TestMarkers:
                @pytest.mark.asyncio
                async def test_class_marker(self, sandbox, sandbox_client):
                    with pytest.raises(ServerError):
                        await sandbox_client.send(ViberMessage("Shop", "380501234567", "Hi"))
                    assert sandbox.stats.server_errors == 4
                    assert sandbox.config.seed == 3

                @pytest.mark.asyncio
                @pytest.mark.sandbox(server_error_share=0.0)
                async def test_closest_marker_wins(self, sandbox, sandbox_client):
                    await sandbox_client.send(ViberMessage("Shop", "380501234567", "Hi"))
                    assert sandbox.config.seed == 3
            """
        )
    )
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\n"
        "addopts = --strict-markers -p no:cacheprovider\n"
        "asyncio_mode = strict\n"
        "asyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter, our own files
        [sys.executable, "-m", "pytest", "-q", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def run_pytest(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter, our own files
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def test_the_plugin_line_alone_runs_async_tests_in_strict_mode(tmp_path: Path) -> None:
    # A fresh project: no pytest configuration at all, so pytest-asyncio is in
    # its default strict mode, and no test carries @pytest.mark.asyncio.
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["decisiontelecom_async.testing"]\n')
    (tmp_path / "test_plain.py").write_text(
        textwrap.dedent(
            """
            import pytest
            from decisiontelecom_async import InsufficientBalanceError, ViberMessage

            async def test_with_the_client(sandbox, sandbox_client):
                await sandbox_client.send(ViberMessage("Shop", "380501234567", "Hi"))
                assert sandbox.stats.sends_accepted == 1

            @pytest.mark.sandbox(balance=0)
            async def test_with_a_marker(sandbox_client):
                with pytest.raises(InsufficientBalanceError):
                    await sandbox_client.send(ViberMessage("Shop", "380501234567", "Hi"))

            class TestInAClass:
                async def test_sms(self, sandbox_sms_client):
                    assert await sandbox_sms_client.send("380501234567", "Shop", "Hi") > 0

            async def test_unrelated_async_test_is_left_alone():
                pass
            """
        )
    )
    result = run_pytest(tmp_path)
    # The test that asks for no sandbox fixture stays pytest-asyncio's business.
    assert "3 passed" in result.stdout, result.stdout + result.stderr
    assert "1 failed" in result.stdout or "1 skipped" in result.stdout, result.stdout
    assert "test_unrelated_async_test_is_left_alone" in result.stdout
