"""``decisiontelecom sandbox``: the stand-in served until a signal."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from cli._support import (
    SCRIPT,
    script_env,
)

pytestmark = pytest.mark.network


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sandbox_stops_cleanly_on_a_signal(signum: signal.Signals) -> None:
    # start_new_session: the signal goes to the script alone, never to pytest.
    with subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
        [*SCRIPT, "sandbox", "--port", "0", "--seed", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=script_env(),
        start_new_session=True,
    ) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            assert "http://127.0.0.1:" in first, first
            process.send_signal(signum)
            out, err = process.communicate(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, err
    assert "sandbox stopped" in out
    assert "error" not in err
    assert "Traceback" not in err
